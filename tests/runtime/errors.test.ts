// Every error a caller can receive from load() / recommend() / score() is one of runtime/errors.ts's classes, matched
// by name: every throw site in runtime/ is walked, the call boundary is fed every other kind of error, and the real
// recommender is fed many bad arguments and bad bundles. Sizes are bounded before anything is allocated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { createNodeRecommender, fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { createRecommenderWith } from '../../runtime/local-recommender.ts';
import { INTERNAL_ERROR_NAMES, RUNTIME_ERROR_NAMES, TrieFormatError, toRuntimeError } from '../../runtime/errors.ts';
import { RUNTIME_LIMITS } from '../../runtime/limits.ts';
import { WasmDecoderError } from '../../runtime/wasm-decoder.ts';
import { seededUniform } from '../../models/random.ts';
import type { Recommender } from '../../runtime/recommender.ts';
import type { BundleRunner } from '../../runtime/bundle-runner.ts';

const RUNTIME_DIR = fileURLToPath(new URL('../../runtime/', import.meta.url));
const isRuntimeError = (e: unknown): boolean => e instanceof Error && (RUNTIME_ERROR_NAMES as readonly string[]).includes(e.name);

// One tiny bundle, loaded once by the Node recommender that every bad-argument test calls.
const root = mkdtempSync(join(tmpdir(), 'onerec-errors-'));
let bundle: TestBundle;
const recommender: Recommender = createNodeRecommender();
before(async () => void await recommender.load((bundle = await writeTestBundle(join(root, 'tiny'))).dir));
after(() => recommender.dispose().finally(() => rmSync(root, { recursive: true, force: true })));

test('every `throw new X` in runtime/ names a documented runtime error, or an internal one that the call boundary converts', () => {
  const files = readdirSync(RUNTIME_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.startsWith('wasm/assembly') && !f.endsWith('kernels-wasm.ts'));
  const errorsSource = readFileSync(join(RUNTIME_DIR, 'errors.ts'), 'utf8');
  const sites: string[] = [];
  for (const file of files) {
    const source = readFileSync(join(RUNTIME_DIR, file), 'utf8');
    for (const match of source.matchAll(/throw new ([A-Za-z_$][\w$]*)/g)) {
      const name = match[1];
      sites.push(`${file}: ${name}`);
      const known = (RUNTIME_ERROR_NAMES as readonly string[]).includes(name) || (INTERNAL_ERROR_NAMES as readonly string[]).includes(name);
      assert.ok(known, `${file} throws ${name}, which is neither in RUNTIME_ERROR_NAMES nor in INTERNAL_ERROR_NAMES (runtime/errors.ts)`);
    }
  }
  assert.ok(sites.length > 80, `only ${sites.length} throw sites found: the walk missed files`);
  // Each documented name is a class of errors.ts that sets exactly that name.
  for (const name of RUNTIME_ERROR_NAMES) assert.match(errorsSource, new RegExp(`class ${name} extends RuntimeError[\\s\\S]*?super\\('${name}'`), name);
  // Each internal name becomes a documented one at the boundary, naming the call.
  for (const name of INTERNAL_ERROR_NAMES) {
    const err = new Error(`some ${name} detail`);
    err.name = name;
    const out = toRuntimeError(err, 'recommend');
    assert.ok(isRuntimeError(out), `${name} → ${out.name}`);
    assert.match(out.message, new RegExp(`^recommend\\(\\).*${name}: some ${name} detail`));
  }
});

test('every error class of runtime/ is declared in runtime/errors.ts', () => {
  const elsewhere: string[] = [];
  for (const file of readdirSync(RUNTIME_DIR, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file === 'errors.ts' || file.startsWith('wasm/assembly')) continue;
    const source = readFileSync(join(RUNTIME_DIR, file), 'utf8');
    for (const match of source.matchAll(/class (\w+) extends (?:\w*Error|RuntimeError)\b/g)) {
      elsewhere.push(`${file}: ${match[1]}`);
    }
  }
  assert.deepEqual(elsewhere, []);
});

/** Errors of every kind a backend or an engine could throw. */
const RAW_ERRORS: [unknown, string][] = [
  [new Error('[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: token'), 'InferenceError'],
  [new RangeError('Array buffer allocation failed'), 'OutOfMemoryError'],
  [new RangeError('Invalid typed array length: 4294967296'), 'OutOfMemoryError'],
  [new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'), 'OutOfMemoryError'],
  [new Error('Failed to allocate memory for requested buffer of size 8589934592'), 'OutOfMemoryError'],
  [new TypeError("Cannot read properties of undefined (reading 'length')"), 'InferenceError'],
  [new WasmDecoderError('a helper share failed'), 'InferenceError'],
  [new TrieFormatError('semantic-ID trie: bad magic'), 'InferenceError'],
  [new RangeError('varint runs past the end at byte 12 (truncated?)'), 'InferenceError'],
  ['a thrown string', 'InferenceError'],
  [{ code: 7 }, 'InferenceError'],
  [undefined, 'InferenceError'],
];

test('the call boundary: whatever a backend throws at load(), recommend() or score(), the caller gets a documented error naming the call', async () => {
  for (const [raw, want] of RAW_ERRORS) {
    const failing = createRecommenderWith({ createRunner: async () => { throw raw; }, fetch: fileAwareFetch as typeof fetch });
    await assert.rejects(failing.load(pathToFileURL(join(bundle.dir, 'manifest.json')).href, { cache: false }), (e: Error) => e.name === want && e.message.startsWith('load()'), String(raw));
    const fake = { recommend: async () => { throw raw; }, score: async () => { throw raw; }, release: async () => undefined, models: { trie: { itemCount: 1 } }, fallbackReasons: [] } as unknown as BundleRunner;
    const loaded = createRecommenderWith({ createRunner: async () => fake, fetch: fileAwareFetch as typeof fetch });
    await loaded.load(pathToFileURL(join(bundle.dir, 'manifest.json')).href, { cache: false });
    await assert.rejects(loaded.recommend([1]), (e: Error) => e.name === want && e.message.startsWith('recommend()'), String(raw));
    await assert.rejects(loaded.score([1], [[2]]), (e: Error) => e.name === want && e.message.startsWith('score()'), String(raw));
  }
});

/** [what is called, the argument the message must name] for bad inputs a careless caller passes. */
const BAD_CALLS: [string, (r: Recommender) => Promise<unknown>, RegExp][] = [
  ['string history', (r) => r.recommend('item-3' as never), /^history = "item-3"/],
  ['number history', (r) => r.recommend(42 as never), /^history = 42/],
  ['null history', (r) => r.recommend(null as never), /^history = null/],
  ['object history', (r) => r.recommend({ length: 3 } as never), /^history = /],
  ['Set history', (r) => r.recommend(new Set([1, 2]) as never), /^history = /],
  ['null entry', (r) => r.recommend([1, null] as never), /^history\[1\] = null/],
  ['array entry', (r) => r.recommend([[1]] as never), /^history\[0\]/],
  ['object entry', (r) => r.recommend([{ id: 'item-1' }] as never), /^history\[0\]/],
  ['boolean entry', (r) => r.recommend([2, true] as never), /^history\[1\] = true/],
  ['bigint entry', (r) => r.recommend([1n] as never), /^history\[0\]/],
  ['too long history', (r) => r.recommend(new Array(RUNTIME_LIMITS.historyLength + 1).fill(1)), /^history\.length = 10001.*at most 10000/],
  ['beamWidth 0', (r) => r.recommend([1], { beamWidth: 0 }), /^beamWidth = 0.*1\.\.512/],
  ['beamWidth -3', (r) => r.recommend([1], { beamWidth: -3 }), /^beamWidth = -3/],
  ['beamWidth 1.5', (r) => r.recommend([1], { beamWidth: 1.5 }), /^beamWidth = 1\.5/],
  ['beamWidth "8"', (r) => r.recommend([1], { beamWidth: '8' as never }), /^beamWidth = "8"/],
  ['beamWidth NaN', (r) => r.recommend([1], { beamWidth: Number.NaN }), /^beamWidth = null/],
  ['beamWidth Infinity', (r) => r.recommend([1], { beamWidth: Infinity }), /^beamWidth/],
  ['beamWidth 513', (r) => r.recommend([1], { beamWidth: RUNTIME_LIMITS.beamWidth + 1 }), /^beamWidth = 513/],
  ['beamWidth 1e9', (r) => r.recommend([1], { beamWidth: 1e9 }), /^beamWidth = 1000000000/],
  ['candidates 0', (r) => r.recommend([1], { candidates: 0 }), /^candidates = 0/],
  ['candidates > beam', (r) => r.recommend([1], { beamWidth: 4, candidates: 9 }), /^candidates = 9.*beamWidth \(4\)/],
  ['sessionLength 0', (r) => r.recommend([1], { sessionLength: 0 }), /^sessionLength = 0/],
  ['sessionLength past the model', (r) => r.recommend([1], { sessionLength: 5 }), /^sessionLength = 5.*1\.\.4/],
  ['sessionLength 2.5', (r) => r.recommend([1], { sessionLength: 2.5 }), /^sessionLength = 2\.5/],
  ['rerank "yes"', (r) => r.recommend([1], { rerank: 'yes' as never }), /^options\.rerank = "yes"/],
  ['options string', (r) => r.recommend([1], 'fast' as never), /^options = "fast"/],
  ['options array', (r) => r.recommend([1], [] as never), /^options = \[\]/],
  ['score: string history', (r) => r.score('item-1' as never, [[1]]), /^history = "item-1"/],
  ['score: sessions string', (r) => r.score([1], 'item-1' as never), /^sessions = "item-1"/],
  ['score: session string', (r) => r.score([1], [[1], 'item-2' as never]), /^sessions\[1\] = "item-2"/],
  ['score: session of objects', (r) => r.score([1], [[{}] as never]), /^sessions\[0\]\[0\]/],
  ['score: session too long', (r) => r.score([1], [[1, 2, 3, 4, 5]]), /^sessions\[0\]\.length = 5.*at most 4/],
  ['score: too many sessions', (r) => r.score([1], new Array(RUNTIME_LIMITS.scoredSessions + 1).fill([1])), /^sessions\.length = 513/],
  ['score: ragged sessions', (r) => r.score([1], [[1, 2], [3]]), /^sessions\[i\]\.length/],
  ['score: unknown item', (r) => r.score([1], [['no-such-item']]), /^sessions\[0\]/],
  ['load: number url', (r) => r.load(42 as never), /^bundleUrl = 42/],
  ['load: empty url', (r) => r.load(''), /^bundleUrl = ""/],
  ['load: threads 0', (r) => r.load(bundle.dir, { threads: 0 }), /^threads = 0.*1\.\.64/],
  ['load: threads 65', (r) => r.load(bundle.dir, { threads: 65 }), /^threads = 65/],
  ['load: gpuDecoder "no"', (r) => r.load(bundle.dir, { gpuDecoder: 'no' as never }), /^options\.gpuDecoder = "no"/],
  ['load: onProgress', (r) => r.load(bundle.dir, { onProgress: 'log' as never }), /^onProgress = "log"/],
];

test('bad arguments are InvalidArgumentErrors naming the argument, never a TypeError or a silent cold start', async () => {
  for (const [what, call, message] of BAD_CALLS) {
    await assert.rejects(call(recommender), (e: Error) => {
      assert.equal(e.name, 'InvalidArgumentError', `${what}: ${e.name}: ${e.message}`);
      assert.match(e.message, message, what);
      return true;
    }, what);
  }
  // The recommender still works after all of them, and a typed array of indices is a history like the array.
  const items = (r: { sessions: { items: Int32Array }[] }) => r.sessions.map((s) => Array.from(s.items));
  assert.deepEqual(items(await recommender.recommend(Int32Array.of(3, 17, 5) as never)), items(await recommender.recommend([3, 17, 5])));
});

test('property: random junk arguments either work or reject with a documented error, never anything else', async () => {
  const uniform = seededUniform(11);
  const pick = <T>(xs: T[]): T => xs[Math.floor(uniform() * xs.length)];
  const junk = (): unknown => pick<() => unknown>([
    () => Math.floor(uniform() * 80) - 10, () => uniform() * 100, () => `item-${Math.floor(uniform() * 70)}`, () => 'x'.repeat(Math.floor(uniform() * 5)),
    () => null, () => undefined, () => true, () => ({}), () => [], () => [1, 2], () => Number.NaN, () => -Infinity, () => 2 ** 40, () => '8',
  ])();
  const history = (): unknown => pick<() => unknown>([
    () => Array.from({ length: Math.floor(uniform() * 12) }, junk), () => Array.from({ length: Math.floor(uniform() * 12) }, () => Math.floor(uniform() * 60)), junk,
  ])();
  const options = (): unknown => (uniform() < 0.2 ? junk() : Object.fromEntries(['beamWidth', 'candidates', 'sessionLength', 'rerank', 'excludeHistory', 'historyBias']
    .filter(() => uniform() < 0.4).map((k) => [k, uniform() < 0.5 ? junk() : Math.floor(uniform() * 10)])));
  let worked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const call = uniform() < 0.7
      ? recommender.recommend(history() as never, options() as never)
      : recommender.score(history() as never, Array.from({ length: Math.floor(uniform() * 4) }, history) as never, options() as never);
    try {
      await call;
      worked++;
    } catch (e) {
      assert.ok(isRuntimeError(e), `trial ${trial}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  assert.ok(worked > 10 && worked < 290, `${worked} of 300 random calls worked: the generator is off`);
});

function rewriteBundle(name: string, edit: (manifest: Record<string, any>, dir: string) => void): string {
  const dir = join(root, name);
  cpSync(bundle.dir, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  edit(manifest, dir);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

/** Sets model.key (and what the manifest derives from it) so that the manifest itself stays consistent. */
function setModel(manifest: Record<string, any>, key: string, value: number): void {
  manifest.model[key] = value;
  if (key === 'maxHistory') manifest.generation.maxHistory = value;
  if (key === 'levels' || key === 'codebookSize') {
    manifest.tokens[key] = value;
    manifest.tokens.vocabSize = 2 + manifest.model.levels * manifest.model.codebookSize;
  }
}

test('manifest sizes past the runtime\'s bounds, or disagreeing with the graphs or the trie, fail load() with a BundleFormatError naming the file', async () => {
  const cases: [string, (m: Record<string, any>, dir: string) => void, RegExp][] = [
    ['maxHistory past the bound', (m) => setModel(m, 'maxHistory', RUNTIME_LIMITS.maxHistory + 1), /manifest\.json.*"model\.maxHistory" = 4097 exceeds 4096/],
    ['sessionLength past the bound', (m) => { setModel(m, 'sessionLength', 65); }, /"model\.sessionLength" = 65 exceeds 64/],
    ['beamWidth past the bound', (m) => { m.generation.beamWidth = 100_000; }, /"generation\.beamWidth" 100000 exceeds 512/],
    ['experts past the bound', (m) => { m.model.experts = 1000; }, /"model\.experts" = 1000 exceeds 256/],
    ['expertsPerToken > experts', (m) => { m.model.expertsPerToken = 9; }, /"model\.expertsPerToken" = 9 exceeds 4/],
    ['dModel past the bound', (m) => { m.model.dModel = 2 ** 20; }, /"model\.dModel" = 1048576 exceeds 8192/],
    ['codebookSize past uint16', (m) => setModel(m, 'codebookSize', 70_000), /"model\.codebookSize" = 70000 exceeds 65536/],
    ['an ensemble member past the bounds', (m) => { m.ensemble = { members: [{ ...m.model, decoderLayers: 1, ffnDim: 1e6 }, { ...m.model, decoderLayers: 1 }], combine: 'mean' }; }, /"ensemble\.members\[0\]\.ffnDim" = 1000000 exceeds 65536/],
    ['ensemble members of another width', (m) => { m.ensemble = { members: [{ ...m.model, decoderLayers: 1 }, { ...m.model, decoderLayers: 1, dModel: 64 }], combine: 'mean' }; }, /"ensemble\.members\[1\]\.dModel" = 64 differs from "model\.dModel" = 32/],
    ['ensemble layers ≠ the graphs\' stack', (m) => { m.ensemble = { members: [{ ...m.model }, { ...m.model }], combine: 'mean' }; }, /the members' decoderLayers add up to 4, "model\.decoderLayers" is 2/],
    ['too many ensemble members', (m) => { m.ensemble = { members: Array.from({ length: 17 }, () => ({ ...m.model })), combine: 'mean' }; }, /"ensemble" must be \{ members: \[1\.\.16 SeedConfig objects\]/],
    ['maxHistory ≠ the encoder', (m) => setModel(m, 'maxHistory', 9), /encoder\.onnx.*"history_tokens" is \[1, 24\] where the manifest's model says \[1, 27\]/],
    ['decoderLayers ≠ the decoder', (m) => { m.model.decoderLayers = 3; }, /decoder_step\.onnx.*"past_k" is \[2, Bprev, 2, P, 16\]/],
    ['heads ≠ the decoder', (m) => { m.model.heads = 4; }, /decoder_step\.onnx.*"past_k"/],
    ['codebookSize ≠ the item index', (m) => setModel(m, 'codebookSize', 16), /items\.bin.*3 levels × 8 codes, the manifest's "tokens" 3 × 16/],
    ['levels ≠ the item index', (m) => { setModel(m, 'levels', 4); }, /items\.bin.*3 levels × 8 codes, the manifest's "tokens" 4 × 8/],
    ['an item index that does not parse (hash matching)', (m, dir) => {
      const bytes = readFileSync(join(dir, 'items.bin'));
      bytes.writeUInt32LE(0xdeadbeef, 0);
      writeFileSync(join(dir, 'items.bin'), bytes);
      m.files.items.sha256 = createHash('sha256').update(bytes).digest('hex');
    }, /items\.bin: item index: does not start with "OITM".*re-export the bundle/],
  ];
  const fresh = createNodeRecommender();
  try {
    for (const [what, edit, message] of cases) {
      const dir = rewriteBundle(what.replace(/\W+/g, '-'), edit);
      await assert.rejects(fresh.load(dir), (e: Error) => {
        assert.equal(e.name, 'BundleFormatError', `${what}: ${e.name}: ${e.message}`);
        assert.match(e.message, message, what);
        return true;
      }, what);
    }
  } finally {
    await fresh.dispose();
  }
});

test('a reward model whose static history length is past the runtime\'s bound fails load(), naming reward.onnx', async () => {
  const big = await writeTestBundle(join(root, 'reward-past-bound'), { reward: true, rewardConfig: { maxHistory: RUNTIME_LIMITS.maxHistory + 1 } });
  const fresh = createNodeRecommender();
  try {
    await assert.rejects(fresh.load(big.dir), (e: Error) => e.name === 'BundleFormatError' && /reward\.onnx.*history_items \[1, 4097\].*exceed the runtime's bounds/.test(e.message));
  } finally {
    await fresh.dispose();
  }
});
