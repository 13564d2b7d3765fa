// A tiny static server for dist/ (the browser bundles) and bundle folders, cross-origin isolated: every
// response carries COOP same-origin + COEP require-corp (+ CORP same-origin), so the page and its workers
// get SharedArrayBuffer and onnxruntime-web's wasm threads. Used by the browser tests, the bench and the
// demo's `onerec serve`.
// It serves only what lies under its folders: a request path is resolved inside its mount, then to its real path
// (a symbolic link that leads out of the folder is a 403), and the file is opened once and streamed from that
// handle. Any one request's failure (unreadable, deleted or replaced mid-request) is that request's 404/403/500
// or a cut connection, never the server's end. Every response has X-Content-Type-Options: nosniff and a
// Content-Type from the file's extension.
//
//   node --import tsx runtime-node/serve.ts [--root=dist] [--bundles=models/bundles] [--port=8080]
//   → http://localhost:8080/ serves dist/, /bundles/<name>/manifest.json serves models/bundles/<name>/
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

/** On every response: cross-origin isolation, and no MIME sniffing (a served .json or .bin is never run as script). */
export const RESPONSE_HEADERS = { ...ISOLATION_HEADERS, 'X-Content-Type-Options': 'nosniff' } as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

/** Whether `path` is `dir` or below it (both absolute, resolved). */
function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The HTTP status for a file-system error on a path inside a mount: gone or not a file → 404, not allowed → 403. */
function statusOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') return 404;
  if (code === 'EACCES' || code === 'EPERM') return 403;
  return 500;
}

/** A file opened for serving: its handle, size and real path (the handle keeps it readable if it is deleted meanwhile). */
interface OpenedFile {
  handle: FileHandle;
  size: number;
  path: string;
}

export interface ServeOptions {
  /** URL prefix → folder. '/' is usually dist/; e.g. { '/': 'dist', '/bundles/': 'models/bundles' }. */
  mounts: Record<string, string>;
  port?: number; // 0 = any free port (default)
  host?: string; // default 127.0.0.1
  log?: (line: string) => void;
}

export interface StaticServer {
  url: string; // e.g. http://127.0.0.1:41234/
  /** Every request path served (or refused) so far, in order; tests assert on it. */
  requests: string[];
  /** true: drop every new request and open connection, as if the network were cut. */
  setOffline(offline: boolean): void;
  close(): Promise<void>;
}

export class ServeError extends Error {
  override name = 'ServeError';
}

export async function startServer(options: ServeOptions): Promise<StaticServer> {
  // Longest prefix first, so '/bundles/' wins over '/'.
  const mounts = Object.entries(options.mounts)
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, resolve(dir)] as const)
    .sort((a, b) => b[0].length - a[0].length);
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let offline = false;

  const respond = (res: ServerResponse, status: number, body: string): void => {
    // A failure after the headers went out can only cut the connection (the client sees a short body).
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { ...RESPONSE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(body);
  };

  /**
   * Opens the file a request names under `root` (a folder: its index.html), or returns the status that refuses it.
   * The real path is checked against the mount's real path, so no link leads out of it.
   */
  const openInside = async (root: string, requested: string): Promise<OpenedFile | number> => {
    const realRoot = await realpath(root).catch(() => null);
    if (realRoot === null) return 404;
    let candidate = requested;
    for (let depth = 0; depth < 2; depth++) {
      let real: string;
      try {
        real = await realpath(candidate);
      } catch (err) {
        return statusOf(err);
      }
      if (!isInside(real, realRoot)) return 403;
      let handle: FileHandle;
      try {
        // O_NOFOLLOW: a file swapped for a link between realpath() and open() is refused, not followed. O_NONBLOCK: a
        // named pipe opens at once (and is then refused as not a file) instead of holding the request forever.
        handle = await open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
      } catch (err) {
        return statusOf(err);
      }
      try {
        const info = await handle.stat();
        if (info.isFile()) return { handle, size: info.size, path: real };
        await handle.close();
        if (!info.isDirectory() || depth > 0) return 404;
        candidate = join(real, 'index.html');
      } catch (err) {
        await handle.close().catch(() => undefined);
        return statusOf(err);
      }
    }
    return 404;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A request target that is not an absolute path ('//…' parses as another host) or whose %-escapes do not
    // decode is the client's error, not the server's.
    const target = req.url ?? '/';
    let path: string;
    try {
      if (!target.startsWith('/') || target.startsWith('//')) throw new Error('not an absolute path');
      path = decodeURIComponent(new URL(target, 'http://x').pathname);
      if (path.includes('\0')) throw new Error('a NUL byte');
    } catch {
      return respond(res, 400, `bad request target ${JSON.stringify(target)}: expected an absolute path such as /index.html`);
    }
    requests.push(path);
    if (offline) {
      req.socket.destroy();
      return;
    }
    options.log?.(`${req.method} ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return respond(res, 405, 'only GET and HEAD');
    }
    const mount = mounts.find(([prefix]) => path.startsWith(prefix) || `${path}/` === prefix);
    if (!mount) return respond(res, 404, `no folder is served at ${path}`);
    const [prefix, dir] = mount;
    const file = resolve(dir, `.${sep}${path.slice(prefix.length)}`);
    if (!isInside(file, dir)) return respond(res, 403, 'outside the served folder');
    const opened = await openInside(dir, file);
    if (typeof opened === 'number') {
      return respond(res, opened, opened === 403 ? `${path} is outside the served folder` : opened === 404 ? `${path} not found` : `${path} could not be read`);
    }
    res.writeHead(200, {
      ...RESPONSE_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(opened.path)] ?? 'application/octet-stream',
      'Content-Length': opened.size,
      'Cache-Control': 'no-cache', // revalidate: a re-exported bundle must never come from a stale HTTP cache
    });
    if (req.method === 'HEAD' || opened.size === 0) {
      await opened.handle.close().catch(() => undefined);
      return void res.end();
    }
    // At most the size announced: a file that grows meanwhile must not overrun Content-Length; one that shrinks or
    // fails to read cuts this response only (pipeline destroys both streams and closes the handle).
    const stream = opened.handle.createReadStream({ start: 0, end: opened.size - 1 });
    // Fewer bytes than announced: cut the connection, or the client would wait for the rest until the keep-alive timeout.
    stream.on('end', () => {
      if (stream.bytesRead < opened.size) res.destroy();
    });
    pipeline(stream, res, (err) => {
      if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') options.log?.(`${req.method} ${path}: ${err.message}`);
    });
  };

  const server = createServer((req, res) => {
    // The error's text stays in the log: it may hold this machine's paths.
    handle(req, res).catch((err: unknown) => {
      options.log?.(`${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      respond(res, 500, 'the server could not answer this request');
    });
  });
  // A request that does not parse (a target such as 'x' or '*', a bad header) gets Node's 400, with our headers too.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const headers = Object.entries({ ...RESPONSE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '12', Connection: 'close' })
      .map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.end(`HTTP/1.1 400 Bad Request\r\n${headers}\r\nbad request.`);
  });
  server.on('connection', (socket) => {
    if (offline) return void socket.destroy();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/`,
    requests,
    setOffline(value: boolean) {
      offline = value;
      if (value) for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((ok) => {
      for (const s of sockets) s.destroy();
      server.close(() => ok());
    }),
  };
}

// CLI: node --import tsx runtime-node/serve.ts --root=dist --bundles=models/bundles --port=8080
if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => {
    const m = /^--([a-z]+)=(.*)$/.exec(a);
    if (!m || !['root', 'bundles', 'port'].includes(m[1])) throw new ServeError(`unknown argument ${a}; use --root=DIR --bundles=DIR --port=N`);
    return [m[1], m[2]];
  }));
  const port = Number(args.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServeError(`--port=${args.port} is not a port number (0..65535)`);
  const server = await startServer({ mounts: { '/': args.root ?? 'dist', '/bundles/': args.bundles ?? 'models/bundles' }, port, host: '127.0.0.1', log: console.log });
  console.log(`serving ${args.root ?? 'dist'} at ${server.url} and bundles at ${server.url}bundles/ (cross-origin isolated)`);
}
