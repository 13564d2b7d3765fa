// `onerec serve`: refuses to serve an unbuilt page, lists the bundle folders for the page's catalog menu,
// serves everything cross-origin isolated, and finds given folders from the user's working directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listBundles, serveDemo, servePaths, defaults } from '../../../models/commands/serve.ts';

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

test('servePaths: given folders are relative to the working directory; by default the package\'s own page and bundles', () => {
  const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const cwd = join(tmpdir(), 'some-app');
  assert.deepEqual(servePaths({ root: 'public', bundles: 'my-bundles' }, cwd), { root: join(cwd, 'public'), bundles: join(cwd, 'my-bundles') });
  assert.deepEqual(servePaths({ root: '/srv/page', bundles: '' }, cwd), { root: '/srv/page', bundles: join(packageRoot, 'models', 'bundles') });
  assert.deepEqual(servePaths(defaults, cwd), { root: join(packageRoot, 'dist'), bundles: join(packageRoot, 'models', 'bundles') });
});

test('serveDemo from another working directory: relative --root and --bundles are found there', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'onerec-serve-cwd-'));
  const previous = process.cwd();
  try {
    mkdirSync(join(cwd, 'page'));
    writeFileSync(join(cwd, 'page', 'index.html'), '<!doctype html><title>mine</title>');
    writeFileSync(join(cwd, 'page', 'main.js'), 'export {};');
    mkdirSync(join(cwd, 'bundles', 'mine'), { recursive: true });
    writeFileSync(join(cwd, 'bundles', 'mine', 'manifest.json'), '{}');
    process.chdir(cwd);
    const server = await serveDemo({ ...defaults, root: 'page', bundles: 'bundles', port: 0 });
    try {
      assert.match(await (await fetch(server.url)).text(), /<title>mine<\/title>/);
      assert.deepEqual(await (await fetch(`${server.url}catalogs/index.json`)).json(), { bundles: ['mine'] });
    } finally {
      await server.close();
    }
    await assert.rejects(serveDemo({ ...defaults, root: 'missing', port: 0 }), (e: Error) => e.name === 'ServeSetupError' && e.message.includes(join(cwd, 'missing')));
  } finally {
    process.chdir(previous);
    rmSync(cwd, { recursive: true, force: true });
  }
});
