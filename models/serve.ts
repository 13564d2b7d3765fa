// A tiny static server for dist/ (the browser bundles) and bundle folders, cross-origin isolated: every
// response carries COOP same-origin + COEP require-corp (+ CORP same-origin), so the page and its workers
// get SharedArrayBuffer and onnxruntime-web's wasm threads. Used by the browser tests, the bench and the
// demo's `onerec serve`.
//
//   node --import tsx models/serve.ts [--root=dist] [--bundles=models/bundles] [--port=8080]
//   → http://localhost:8080/ serves dist/, /bundles/<name>/manifest.json serves models/bundles/<name>/
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

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
};

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
    res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A request target that is not an absolute path ('//…' parses as another host) or whose %-escapes do not
    // decode is the client's error, not the server's.
    const target = req.url ?? '/';
    let path: string;
    try {
      if (!target.startsWith('/') || target.startsWith('//')) throw new Error('not an absolute path');
      path = decodeURIComponent(new URL(target, 'http://x').pathname);
    } catch {
      return respond(res, 400, `bad request target ${JSON.stringify(target)}: expected an absolute path such as /index.html`);
    }
    requests.push(path);
    if (offline) {
      req.socket.destroy();
      return;
    }
    options.log?.(`${req.method} ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, 'only GET and HEAD');
    const mount = mounts.find(([prefix]) => path.startsWith(prefix) || `${path}/` === prefix);
    if (!mount) return respond(res, 404, `no folder is served at ${path}`);
    const [prefix, dir] = mount;
    let file = resolve(dir, `.${sep}${path.slice(prefix.length)}`);
    if (file !== dir && !file.startsWith(dir + sep)) return respond(res, 403, 'outside the served folder');
    let info = await stat(file).catch(() => null);
    if (info?.isDirectory()) {
      file = resolve(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!info?.isFile()) return respond(res, 404, `${path} not found`);
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Cache-Control': 'no-cache', // revalidate: a re-exported bundle must never come from a stale HTTP cache
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => respond(res, 500, String(err)));
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

// CLI: node --import tsx models/serve.ts --root=dist --bundles=models/bundles --port=8080
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
