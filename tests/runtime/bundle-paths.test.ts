// A bundle cannot reach outside itself: every file its manifest names must resolve, after URL resolution and
// %-decoding, under the manifest's own folder. Tried with the spellings an attacker would use (encoded dots,
// backslashes, absolute paths, other origins and schemes) and with random strings, against parseManifest,
// bundleFileUrl, the runtime's loader (nothing outside the bundle is ever fetched) and Node's readBundle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { bundleFileUrl, bundlePathProblem, parseManifest, BUNDLE_ROLES } from '../../runtime/bundle.ts';
import { createRecommenderWith } from '../../runtime/local-recommender.ts';
import { createNodeRecommender, fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { readBundle } from '../../runtime-node/bundle-reader.ts';
import { seededUniform } from '../../models/random.ts';
import { HOSTILE_PATHS } from './hostile-paths.ts';

const BASES = [
  'https://cdn.example/bundles/beauty/manifest.json',
  'http://127.0.0.1:8080/bundles/x/manifest.json?v=2',
  'file:///srv/bundles/kuairand/manifest.json',
  'https://user:pw@cdn.example:8443/a/b/c/manifest.json',
];

/** Decoded path segments of a URL: '..' must never be one. */
function decodedSegments(url: URL): string[] {
  return decodeURIComponent(url.pathname).split(/[\\/]/);
}

let root: string;
let bundle: TestBundle;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-paths-'));
  bundle = await writeTestBundle(join(root, 'tiny'));
  writeFileSync(join(root, 'secret.bin'), 'SECRET');
});
after(() => rmSync(root, { recursive: true, force: true }));

function manifestWith(role: string, path: unknown): Record<string, any> {
  const manifest = JSON.parse(readFileSync(join(bundle.dir, 'manifest.json'), 'utf8'));
  if (role === 'transitions') {
    // The tiny bundle has no transition prior: give it one (a file entry and its constants) so that its path is checked too.
    manifest.files.transitions = { path: 'transitions.bin', bytes: 16, sha256: '0'.repeat(64) };
    manifest.transitions = { lambda: 1, window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1 };
  }
  manifest.files[role].path = path;
  return manifest;
}

test('parseManifest and bundleFileUrl refuse every hostile path for every role, naming the role', () => {
  const roles = BUNDLE_ROLES.filter((r) => r !== 'reward');
  for (const path of HOSTILE_PATHS) {
    assert.ok(bundlePathProblem(path), `accepted ${JSON.stringify(path)}`);
    for (const role of roles) {
      assert.throws(() => parseManifest(manifestWith(role, path), 'https://cdn.example/b/manifest.json'),
        (e: Error) => e.name === 'BundleFormatError' && e.message.includes(`"files.${role}.path"`) && e.message.includes('https://cdn.example/b/manifest.json'), `${role}: ${JSON.stringify(path)}`);
    }
    for (const base of BASES) assert.throws(() => bundleFileUrl(base, 'encoder', path), { name: 'BundleFormatError' }, `${base} ${JSON.stringify(path)}`);
  }
});

test('property: for random strings, bundleFileUrl either refuses or returns a URL under the manifest folder', () => {
  const pieces = ['a', 'b.onnx', 'sub', '.', '..', '%2e', '%2E', '%2f', '%5c', '%25', '\\', '/', '/', ':', '@', '?', '#', '-', '_', 'evil.example', 'file:', 'http:', '%00', '~'];
  const uniform = seededUniform(24);
  let accepted = 0;
  for (let trial = 0; trial < 4000; trial++) {
    const length = 1 + Math.floor(uniform() * 7);
    const path = Array.from({ length }, () => pieces[Math.floor(uniform() * pieces.length)]).join('');
    const base = BASES[trial % BASES.length];
    let href: string;
    try {
      href = bundleFileUrl(base, 'items', path);
    } catch (e) {
      assert.equal((e as Error).name, 'BundleFormatError', path);
      continue;
    }
    accepted++;
    const folder = new URL('.', base);
    const url = new URL(href);
    assert.equal(url.protocol, folder.protocol, path);
    assert.equal(url.host, folder.host, path);
    assert.ok(url.href.startsWith(folder.href), `${path} → ${href}`);
    assert.ok(!decodedSegments(url).includes('..'), `${path} → ${href}`);
    assert.equal(url.search + url.hash, '', path);
    assert.equal(bundlePathProblem(path), null, path);
  }
  assert.ok(accepted > 100, `only ${accepted} random paths were plain enough to accept: the property was hardly tried`);
  // Plain nested paths stay usable.
  assert.equal(bundleFileUrl(BASES[0], 'encoder', 'graphs/v1.2/encoder_int4-b.onnx'), 'https://cdn.example/bundles/beauty/graphs/v1.2/encoder_int4-b.onnx');
  // The manifest's own folder may be spelled any way the caller likes (escapes, even malformed ones, are the caller's).
  assert.equal(bundleFileUrl('https://cdn.example/my%20bundles/v%zz/manifest.json', 'items', 'items.bin'), 'https://cdn.example/my%20bundles/v%zz/items.bin');
});

test('the loader fetches nothing outside the bundle: a hostile path fails load() after the manifest alone', async () => {
  const fetched: string[] = [];
  const spy = ((input: RequestInfo | URL, init?: RequestInit) => {
    fetched.push(String(input));
    return fileAwareFetch(input, init);
  }) as typeof fetch;
  const recommender = createRecommenderWith({ createRunner: async () => { throw new Error('no runner may be created for a refused bundle'); }, fetch: spy });
  const dir = join(root, 'hostile');
  cpSync(bundle.dir, dir, { recursive: true });
  const manifestUrl = pathToFileURL(join(dir, 'manifest.json')).href;
  const roles = ['encoder', 'decoderStep', 'items', 'catalog'];
  for (const [i, path] of HOSTILE_PATHS.entries()) {
    const role = roles[i % roles.length];
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifestWith(role, path)));
    fetched.length = 0;
    await assert.rejects(recommender.load(manifestUrl, { cache: false }), (e: Error) => e.name === 'BundleFormatError' && e.message.includes(`"files.${role}.path"`), JSON.stringify(path));
    assert.deepEqual(fetched, [manifestUrl], `${JSON.stringify(path)} made the loader fetch ${fetched.join(', ')}`);
  }
});

test('readBundle (Node) refuses hostile paths and a file that is a symlink out of the bundle folder', async () => {
  const dir = join(root, 'read');
  cpSync(bundle.dir, dir, { recursive: true });
  const original = readFileSync(join(dir, 'manifest.json'), 'utf8');
  for (const path of HOSTILE_PATHS.slice(0, 30)) {
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifestWith('catalog', path)));
    await assert.rejects(readBundle(dir), { name: 'BundleFormatError' }, JSON.stringify(path));
  }
  writeFileSync(join(dir, 'manifest.json'), original);
  // Same bytes outside the folder, so that only the link itself can be the reason for the refusal.
  const outside = join(root, 'outside-catalog.bin');
  renameSync(join(dir, 'catalog.bin'), outside);
  symlinkSync(outside, join(dir, 'catalog.bin'));
  await assert.rejects(readBundle(dir), (e: Error) => e.name === 'BundleFormatError' && /link to .*outside the bundle folder/.test(e.message));
});

test('plain nested paths inside the bundle still load, in the runtime and in readBundle', async () => {
  const dir = join(root, 'nested');
  cpSync(bundle.dir, dir, { recursive: true });
  mkdirSync(join(dir, 'graphs'));
  renameSync(join(dir, 'encoder.onnx'), join(dir, 'graphs', 'encoder.onnx'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifestWith('encoder', 'graphs/encoder.onnx')));
  assert.equal((await readBundle(dir)).manifest.files.encoder?.path, 'graphs/encoder.onnx');
  const recommender = createNodeRecommender();
  try {
    const info = await recommender.load(dir);
    assert.equal(info.items, bundle.items);
    assert.ok((await recommender.recommend([1, 2, 3])).sessions.length > 0);
  } finally {
    await recommender.dispose();
  }
});
