// `onerec serve`: refuses to serve an unbuilt page, lists the bundle folders for the page's catalog menu,
// and serves everything cross-origin isolated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listBundles, serveDemo, defaults } from '../../../models/commands/serve.ts';

test('serveDemo: an unbuilt page is a ServeSetupError that says to build', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-serve-test-'));
  try {
    await assert.rejects(serveDemo({ ...defaults, root, bundles: root, port: 0 }), (e: Error) => e.name === 'ServeSetupError' && /npm run build/.test(e.message));
    writeFileSync(join(root, 'index.html'), '<!doctype html>');
    writeFileSync(join(root, 'main.js'), '');
    await assert.rejects(serveDemo({ ...defaults, root, bundles: root, port: 70000 }), (e: Error) => e.name === 'ServeSetupError' && /--port=70000/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('serveDemo: /catalogs/index.json lists the folders with a manifest; every response is cross-origin isolated', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-serve-test-'));
  try {
    const dist = join(root, 'dist');
    const bundles = join(root, 'bundles');
    mkdirSync(dist);
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dist, 'main.js'), 'export {};');
    for (const name of ['kuairand', 'beauty', 'not-a-bundle']) mkdirSync(join(bundles, name), { recursive: true });
    writeFileSync(join(bundles, 'beauty', 'manifest.json'), '{}');
    writeFileSync(join(bundles, 'kuairand', 'manifest.json'), '{}');
    assert.deepEqual(listBundles(bundles), ['beauty', 'kuairand']);
    assert.deepEqual(listBundles(join(root, 'missing')), []);

    const server = await serveDemo({ ...defaults, root: dist, bundles, port: 0 });
    try {
      const index = await fetch(`${server.url}catalogs/index.json`);
      assert.deepEqual(await index.json(), { bundles: ['beauty', 'kuairand'] });
      for (const path of ['', 'main.js', 'bundles/beauty/manifest.json', 'catalogs/index.json']) {
        const response = await fetch(`${server.url}${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('cross-origin-opener-policy'), 'same-origin', path);
        assert.equal(response.headers.get('cross-origin-embedder-policy'), 'require-corp', path);
      }
    } finally {
      await server.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
