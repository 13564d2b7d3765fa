// A bundle cannot reach outside itself, in the browser worker: manifests whose files point elsewhere on the same
// server, at another origin or at another scheme fail load() with a BundleFormatError, and neither server sees a
// request for anything but the manifests. The unmodified manifest loads in the same worker (the check is not
// refusing everything). Node's side of the same property: tests/runtime/bundle-paths.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHarness, type BrowserHarness } from './harness.ts';
import { writeTestBundle } from '../runtime/fixture.ts';
import { HOSTILE_PATHS } from '../runtime/hostile-paths.ts';
import { startServer, type StaticServer } from '../../runtime-node/serve.ts';

let root: string;
let harness: BrowserHarness;
let other: StaticServer; // another origin, holding a file a manifest may try to name
const ROLES = ['encoder', 'decoderStep', 'items', 'catalog'];
let cases: { manifest: string; role: string; path: unknown }[] = [];

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-browser-paths-'));
  const bundle = await writeTestBundle(join(root, 'tiny'));
  mkdirSync(join(root, 'other'));
  writeFileSync(join(root, 'other', 'x.onnx'), 'OTHER-ORIGIN');
  other = await startServer({ mounts: { '/': join(root, 'other') } });
  const manifest = JSON.parse(readFileSync(join(bundle.dir, 'manifest.json'), 'utf8'));
  const otherHost = new URL(other.url).host;
  const paths = [...HOSTILE_PATHS, '../../page.js', '../../index.html', `${other.url}x.onnx`, `//${otherHost}/x.onnx`, `\\\\${otherHost}\\x.onnx`];
  cases = paths.map((path, i) => {
    const role = ROLES[i % ROLES.length];
    const name = `manifest-${i}.json`;
    writeFileSync(join(bundle.dir, name), JSON.stringify({ ...manifest, files: { ...manifest.files, [role]: { ...manifest.files[role], path } } }));
    return { manifest: name, role, path };
  });
  harness = await openHarness(bundle.dir);
});
after(async () => {
  await harness?.close();
  await other?.close();
  rmSync(root, { recursive: true, force: true });
});

test('the worker refuses every manifest that names a file outside its folder, and fetches nothing but the manifests', { timeout: 120_000 }, async () => {
  const base = harness.bundleUrl.replace(/manifest\.json$/, '');
  const before = harness.server.requests.length;
  const outcomes = await harness.page.evaluate(async ({ base, manifests }) => {
    const recommender = window.onerec.createWorkerRecommender();
    const out: { name: string; message: string }[] = [];
    for (const manifest of manifests) {
      try {
        await recommender.load(`${base}${manifest}`, { device: 'wasm', cache: false });
        out.push({ name: 'loaded', message: '' });
      } catch (e) {
        out.push({ name: (e as Error).name, message: (e as Error).message });
      }
    }
    await recommender.dispose();
    return out;
  }, { base, manifests: cases.map((c) => c.manifest) });
  outcomes.forEach((o, i) => {
    assert.equal(o.name, 'BundleFormatError', `${JSON.stringify(cases[i].path)}: ${o.name} ${o.message}`);
    assert.ok(o.message.includes(`"files.${cases[i].role}.path"`), o.message);
  });
  const requested = harness.server.requests.slice(before);
  // The worker's own scripts (worker.js and its chunks) load too; page.js and index.html, which two manifests name, do not.
  const scripts = /^\/(worker\.js|chunks\/chunk-[\w-]+\.js)$/;
  assert.deepEqual(requested.filter((p) => !/^\/bundles\/test\/manifest-\d+\.json$/.test(p) && !scripts.test(p)), [], 'requests other than the manifests');
  assert.equal(requested.filter((p) => p.startsWith('/bundles/')).length, cases.length, 'one request per manifest');
  assert.deepEqual(other.requests, [], 'the other origin was asked for something');
});

test('the unmodified manifest loads and recommends in the same worker; bad arguments come back as InvalidArgumentError', { timeout: 120_000 }, async () => {
  const result = await harness.page.evaluate(async (url) => {
    const recommender = window.onerec.createWorkerRecommender();
    const info = await recommender.load(url, { device: 'wasm', cache: false });
    const { sessions } = await recommender.recommend([1, 2, 3]);
    // Bad arguments cross the worker boundary as the documented error, by name.
    const refused: string[] = [];
    const calls = [
      () => recommender.recommend('item-3' as never), () => recommender.recommend([1], { beamWidth: 100_000 }), () => recommender.score([1], [[{}]] as never),
      () => recommender.recommend([1], { beamWidth: (() => 8) as never }), // a function cannot be sent to the worker at all
    ];
    for (const call of calls) {
      refused.push(await call().then(() => 'resolved', (e: Error) => `${e.name}: ${e.message.split(' ')[0]}`));
    }
    await recommender.dispose();
    return { items: info.items, fromNetwork: info.fromNetwork.sort(), sessions: sessions.length, refused };
  }, harness.bundleUrl);
  assert.deepEqual(result.fromNetwork, ['decoderStep', 'encoder', 'items']); // no display catalog unless asked for
  assert.ok(result.items > 0 && result.sessions > 0);
  assert.deepEqual(result.refused, ['InvalidArgumentError: history', 'InvalidArgumentError: beamWidth', 'InvalidArgumentError: sessions[0][0]', 'InvalidArgumentError: recommend()']);
});
