// `onerec serve`'s server (runtime-node/serve.ts) tried as an attacker and under churn: no symbolic link leads a request out
// of a served folder, no request target in any spelling reaches a file outside, every response has nosniff, the
// isolation headers and a Content-Type, and files deleted, truncated or replaced while requests run fail only those
// requests: the server keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, truncateSync, renameSync, chmodSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { execFileSync } from 'node:child_process';
import { startServer, RESPONSE_HEADERS, type StaticServer } from '../../runtime-node/serve.ts';
import { seededUniform } from '../../models/random.ts';

const SECRET = 'SECRET-BYTES-OUTSIDE';
let dir: string;
let server: StaticServer;

/** A raw GET (fetch() would normalise the target): status, headers and body, or the error that cut it. */
function get(target: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string } | { error: string }> {
  const url = new URL(server.url);
  return new Promise((done) => {
    const req = request({ host: url.hostname, port: url.port, path: target, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', (e) => done({ error: e.message }));
      res.on('aborted', () => done({ error: 'aborted' }));
    });
    req.on('error', (e) => done({ error: e.message }));
    req.end();
  });
}

function assertHeaders(r: { status: number; headers: Record<string, unknown> }, what: string): void {
  for (const [k, v] of Object.entries(RESPONSE_HEADERS)) assert.equal(r.headers[k.toLowerCase()], v, `${what}: ${k}`);
  assert.ok(typeof r.headers['content-type'] === 'string' && r.headers['content-type'] !== '', `${what}: no Content-Type`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onerec-serve-hard-'));
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub', 'empty'), { recursive: true });
  mkdirSync(join(dir, 'bundles', 'tiny'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html>');
  writeFileSync(join(root, 'app.js'), 'export {};');
  writeFileSync(join(root, 'sub', 'data.json'), '{"ok":true}');
  writeFileSync(join(root, 'model.onnx'), new Uint8Array([8, 1]));
  writeFileSync(join(dir, 'bundles', 'tiny', 'manifest.json'), '{}');
  symlinkSync(join(dir, 'outside', 'secret.txt'), join(root, 'link-file.txt')); // a file link out of the root
  symlinkSync(join(dir, 'outside'), join(root, 'link-dir')); // a folder link out of the root
  symlinkSync('../../secret.txt', join(root, 'sub', 'relative-link.txt')); // a relative link out
  symlinkSync(join(root, 'app.js'), join(root, 'inner-link.js')); // a link that stays inside: served
  symlinkSync(join(dir, 'outside'), join(dir, 'bundles', 'escape')); // a bundle folder that is a link out
  server = await startServer({ mounts: { '/': root, '/bundles/': join(dir, 'bundles') } });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('no symbolic link and no spelling of a target leads out of a served folder; every response has nosniff and a Content-Type', async () => {
  const outside = [
    '/link-file.txt', '/link-dir/secret.txt', '/link-dir/', '/link-dir', '/sub/relative-link.txt', '/bundles/escape/secret.txt',
    '/../secret.txt', '/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt', '/sub/%2e%2e/%2e%2e/secret.txt', '/..%2f..%2fsecret.txt', '/..%5csecret.txt',
    '/bundles/..%2f..%2fsecret.txt', '/bundles/%2e%2e/%2e%2e/secret.txt', '/bundles/tiny/..%2f..%2f..%2fsecret.txt', '/%252e%252e/secret.txt',
    '/sub/..\\..\\secret.txt', '/.%2e/.%2e/secret.txt', '/link-dir%2fsecret.txt', '/sub/data.json%00.txt', '/%00', '//secret.txt',
    'secret.txt', '*', '/bundles/escape', '/link-file.txt?x=1', '/link-file.txt#x',
  ];
  for (const target of outside) {
    const r = await get(target);
    assert.ok('status' in r, `${target}: ${JSON.stringify(r)}`);
    assert.ok([400, 403, 404].includes(r.status), `${target}: ${r.status}`);
    assert.ok(!r.body.includes(SECRET), `${target} served the secret`);
    assertHeaders(r, target);
  }
  const inside: [string, string, string][] = [
    ['/', 'text/html; charset=utf-8', '<!doctype html>'], ['/app.js', 'text/javascript; charset=utf-8', 'export {};'],
    ['/inner-link.js', 'text/javascript; charset=utf-8', 'export {};'], ['/sub/data.json', 'application/json; charset=utf-8', '{"ok":true}'],
    ['/model.onnx', 'application/octet-stream', '\u0008\u0001'], ['/bundles/tiny/manifest.json', 'application/json; charset=utf-8', '{}'],
    ['/sub/../app.js', 'text/javascript; charset=utf-8', 'export {};'],
  ];
  for (const [target, type, body] of inside) {
    const r = await get(target);
    assert.ok('status' in r && r.status === 200, `${target}: ${JSON.stringify(r)}`);
    assertHeaders(r, target);
    assert.equal(r.headers['content-type'], type, target);
    assert.equal(r.body, body, target);
  }
  for (const [target, status] of [['/sub/empty/', 404], ['/sub/', 404], ['/nothing.js', 404]] as const) {
    const r = await get(target);
    assert.ok('status' in r && r.status === status, `${target}: ${JSON.stringify(r)}`);
    assertHeaders(r, target);
  }
  const post = await get('/app.js', 'POST');
  assert.ok('status' in post && post.status === 405 && post.headers.allow === 'GET, HEAD');
  assertHeaders(post, 'POST');
});

test('property: random request targets never reach outside and always carry the headers', async () => {
  const pieces = ['/', '..', '.', '%2e', '%2f', '%5c', '\\', 'link-dir', 'link-file.txt', 'secret.txt', 'sub', 'bundles', 'escape', 'tiny', '%00', '%', 'app.js', '%252e'];
  const uniform = seededUniform(5);
  for (let trial = 0; trial < 300; trial++) {
    const target = `/${Array.from({ length: 1 + Math.floor(uniform() * 6) }, () => pieces[Math.floor(uniform() * pieces.length)]).join('')}`;
    const r = await get(target);
    assert.ok('status' in r, `${target}: ${JSON.stringify(r)}`);
    assert.ok(!r.body.includes(SECRET), `${target} served the secret`);
    assertHeaders(r, target);
  }
});

test('files deleted, truncated, replaced by folders or links while requests run fail only those requests', async () => {
  const root = join(dir, 'root');
  const churned = Array.from({ length: 6 }, (_, i) => `churn-${i}.bin`);
  const big = Buffer.alloc(2 ** 16, 7);
  for (const name of churned) writeFileSync(join(root, name), big);
  let running = true;
  const uniform = seededUniform(9);
  const churn = (async () => {
    while (running) {
      const path = join(root, churned[Math.floor(uniform() * churned.length)]);
      try {
        const action = Math.floor(uniform() * 6);
        rmSync(path, { recursive: true, force: true });
        if (action === 0) writeFileSync(path, big);
        else if (action === 1) { writeFileSync(path, big); truncateSync(path, 1000); }
        else if (action === 2) mkdirSync(path);
        else if (action === 3) symlinkSync(join(dir, 'outside', 'secret.txt'), path);
        else if (action === 4) { writeFileSync(`${path}.tmp`, big); renameSync(`${path}.tmp`, path); }
      } catch { /* a concurrent step of this same loop */ }
      await new Promise((ok) => setImmediate(ok));
    }
  })();
  const results = await Promise.all(Array.from({ length: 150 }, (_, i) => get(`/${churned[i % churned.length]}`)));
  running = false;
  await churn;
  let served = 0;
  for (const r of results) {
    if ('error' in r) continue; // cut mid-body: the file shrank or went away after the headers
    assert.ok([200, 403, 404, 500].includes(r.status), `status ${r.status}`);
    assert.ok(!r.body.includes(SECRET), 'a link swapped in served the secret');
    assertHeaders(r, `churn ${r.status}`);
    if (r.status === 200) served++;
  }
  assert.ok(served > 0, 'no churned file was ever served');
  // A file truncated right after its headers went out: that response is cut, the next one works.
  writeFileSync(join(root, 'shrinks.bin'), Buffer.alloc(8 * 2 ** 20, 1));
  const url = new URL(server.url);
  await new Promise<void>((done) => {
    const req = request({ host: url.hostname, port: url.port, path: '/shrinks.bin' }, (res) => {
      truncateSync(join(root, 'shrinks.bin'), 10);
      res.resume();
      res.on('end', done);
      res.on('error', () => done());
      res.on('aborted', () => done());
    });
    req.on('error', () => done());
    req.end();
  });
  unlinkSync(join(root, 'shrinks.bin'));
  const after = await get('/app.js');
  assert.ok('status' in after && after.status === 200 && after.body === 'export {};', JSON.stringify(after));
});

test('a named pipe or a device in a served folder is a 404 at once, not a request that hangs', { timeout: 10_000 }, async () => {
  const fifo = join(dir, 'root', 'pipe.json');
  execFileSync('mkfifo', [fifo]);
  symlinkSync('/dev/zero', join(dir, 'root', 'zeros.bin')); // outside the folder anyway: 403
  const t0 = performance.now();
  const r = await get('/pipe.json');
  assert.ok('status' in r && r.status === 404, JSON.stringify(r));
  assertHeaders(r, 'fifo');
  const zeros = await get('/zeros.bin');
  assert.ok('status' in zeros && zeros.status === 403, JSON.stringify(zeros));
  assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
  assert.equal((await get('/app.js') as { status: number }).status, 200);
});

test('a file the server may not read is a 403, and the server keeps serving', { skip: process.getuid?.() === 0 ? 'root reads every file' : false }, async () => {
  const path = join(dir, 'root', 'locked.json');
  writeFileSync(path, '{}');
  chmodSync(path, 0o000);
  const r = await get('/locked.json');
  assert.ok('status' in r && r.status === 403, JSON.stringify(r));
  assertHeaders(r, 'locked');
  assert.equal((await get('/app.js') as { status: number }).status, 200);
});
