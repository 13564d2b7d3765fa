import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, ISOLATION_HEADERS } from '../../runtime-node/serve.ts';

test('static server: COOP/COEP on every response, mounts, types, no escape, offline switch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-serve-'));
  try {
    mkdirSync(join(dir, 'dist', 'ort'), { recursive: true });
    mkdirSync(join(dir, 'bundles', 'tiny'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'dist', 'ort', 'x.wasm'), new Uint8Array([0, 97, 115, 109]));
    writeFileSync(join(dir, 'bundles', 'tiny', 'manifest.json'), '{"format":"onerec-bundle"}');
    writeFileSync(join(dir, 'secret.txt'), 'SECRET-BYTES');
    const server = await startServer({ mounts: { '/': join(dir, 'dist'), '/bundles/': join(dir, 'bundles') } });
    try {
      const get = (path: string) => fetch(new URL(path, server.url));
      const cases: [string, number, string | null][] = [
        ['/', 200, 'text/html; charset=utf-8'],
        ['/ort/x.wasm', 200, 'application/wasm'],
        ['/bundles/tiny/manifest.json', 200, 'application/json; charset=utf-8'],
        ['/missing.js', 404, null],
        ['/bundles/..%2fsecret.txt', 403, null],
      ];
      for (const [path, status, type] of cases) {
        const res = await get(path);
        assert.equal(res.status, status, path);
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) assert.equal(res.headers.get(k), v, `${path} ${k}`);
        if (type) assert.equal(res.headers.get('content-type'), type, path);
        const body = await res.text();
        if (path === '/bundles/tiny/manifest.json') assert.equal(body, '{"format":"onerec-bundle"}');
        assert.ok(!body.includes('SECRET-BYTES'), path);
      }
      assert.deepEqual(server.requests, cases.map(([p]) => decodeURIComponent(p)));
      // Targets that are not a path: 400, not the 500 of a URL that failed to parse.
      for (const target of ['//', '/%E0%A4%A']) assert.equal((await fetch(`${server.url.replace(/\/$/, '')}${target}`)).status, 400, target);
      server.setOffline(true);
      await assert.rejects(get('/'));
      server.setOffline(false);
      assert.equal((await get('/')).status, 200);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
