// The two packages as users get them. `npm pack` of packages/onerec-web and packages/onerec-pipeline; the runtime's
// tarball installed into fresh Vite, webpack 5 and esbuild apps (tests/consumers/<bundler>/: package.json, a committed
// lockfile that pins the bundler, the bundler's config; app.js, README's recipe, is copied into each app's src/), each
// built for production and served cross-origin isolated next to models/bundles/kuairand, where Chromium checks that
// recommend() returns the sessions createNodeRecommender gives in this process (onnxruntime-web's wasm backend, the same
// as onnxruntime-node's CPU EP gives), with threads: 1 and threads: 2 (kernelThreads 2), and with every graph on
// onnxruntime-web loaded from `wasmPaths` (its files served at /ort/, as README tells an app to). The pipeline's tarball
// goes into a fresh Node app: no ONNX Runtime package with an install script, no npm warning with README's two
// allowScripts entries, `onerec --help`, and createNodeRecommender on a plain path.
// Installs come from the npm registry (npm's own cache makes a second run fast); everything is written under a
// temporary folder, removed at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../browser/harness.ts';
import { createNodeRecommender } from '../../runtime-node/node-recommender.ts';
import { startServer } from '../../runtime-node/serve.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const BUNDLE = join(REPO, 'models', 'bundles', 'kuairand');
const ORT_FILES = join(REPO, 'node_modules', 'onnxruntime-web', 'dist'); // what an app copies to its /ort/ (README)
const HISTORY = [12, 873, 4051]; // app.js's history: catalog indices of the KuaiRand bundle
/** Each app's folder under tests/consumers/ and the folder its build leaves index.html in. */
const APPS = { vite: 'dist', webpack: '.', esbuild: '.' } as const;
/** What an app that installs the runtime must not get: the pipeline's dependencies. */
const PIPELINE_ONLY = ['webgpu', 'tsx', '@energetic-ai/core', 'protobufjs'];
/** Neither package installs these: onnxruntime-node's install script downloads from outside the npm registry, onnxruntime-web's tree has protobufjs 7's. */
const NEVER_INSTALLED = ['onnxruntime-node', 'onnxruntime-web'];
const MB = 2 ** 20;

/** The environment for npm: none of the `npm test` run's own npm_* settings (its prefix, workspaces) leak in. */
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

async function npm(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('npm', args, { cwd, env: npmEnv, maxBuffer: 64 * MB });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} in ${cwd} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

function folderBytes(dir: string): number {
  return files(dir).reduce((sum, f) => sum + statSync(f).size, 0);
}

/** The repo's TypeScript over a consumer's file, strict, its dependencies' .d.ts as they are (skipLibCheck, as apps do). */
async function typecheck(cwd: string, args: string[]): Promise<void> {
  const typescript = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [typescript, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', ...args], { cwd, env: npmEnv })
    .catch((err: { stdout?: string }) => assert.fail(`the package's types do not check:\n${err.stdout}`));
}

let work: string;
let browser: Browser;
let expected: string[][]; // the sessions' ids from createNodeRecommender (onnxruntime-web's wasm backend) in this process
const built: Partial<Record<keyof typeof APPS, Promise<string>>> = {}; // app → the folder to serve
let runtimeTarball: Promise<string>;
let pipelineTarball: Promise<string>;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'onerec-consumers-'));
  const pack = (workspace: string): Promise<string> =>
    npm(REPO, ['pack', '--workspace', workspace, '--pack-destination', work, '--json']).then((out) => {
      const [packed] = JSON.parse(out.slice(out.search(/^\[/m), out.search(/^\]/m) + 1)) as { filename: string; size: number; unpackedSize: number; entryCount: number }[];
      console.log(`${packed.filename}: ${(packed.size / MB).toFixed(2)} MB packed, ${(packed.unpackedSize / MB).toFixed(2)} MB unpacked, ${packed.entryCount} files`);
      return join(work, packed.filename);
    });
  // Packed one after the other: the pipeline's prepack builds the demo with the same esbuild service.
  runtimeTarball = pack('packages/onerec-web');
  pipelineTarball = runtimeTarball.then(() => pack('packages/onerec-pipeline'));
  for (const app of Object.keys(APPS) as (keyof typeof APPS)[]) {
    built[app] = runtimeTarball.then(async (tarball) => {
      const dir = join(work, app);
      cpSync(join(HERE, app), dir, { recursive: true });
      mkdirSync(join(dir, 'src'));
      cpSync(join(HERE, 'app.js'), join(dir, 'src', 'app.js'));
      await npm(dir, ['install', '--no-save', '--no-audit', '--no-fund', tarball]);
      await npm(dir, ['run', 'build']);
      return join(dir, APPS[app]);
    });
    built[app]!.catch(() => {}); // awaited by its test, which reports the failure
  }
  const node = createNodeRecommender();
  await node.load(BUNDLE);
  expected = (await node.recommend(HISTORY)).sessions.map((s) => s.ids);
  await node.dispose();
  // The same sessions as the native reference the pipeline ran before (onnxruntime-node, a devDependency of the repo).
  const native = createNodeRecommender({ onnxRuntime: await import('onnxruntime-node') });
  await native.load(BUNDLE);
  assert.deepEqual((await native.recommend(HISTORY)).sessions.map((s) => s.ids), expected, 'onnxruntime-web and onnxruntime-node give other sessions');
  await native.dispose();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the runtime package installs without the pipeline\'s dependencies, with its types', { timeout: 240_000 }, async () => {
  const dir = join(work, 'runtime-only');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'runtime-only', private: true }));
  const output = await npm(dir, ['install', '--no-audit', '--no-fund', await runtimeTarball]);
  assert.doesNotMatch(output, /npm warn/i, 'a fresh install of the runtime warns, though the app allowed nothing');
  const installed = readdirSync(join(dir, 'node_modules')).filter((n) => !n.startsWith('.'));
  for (const name of [...PIPELINE_ONLY, ...NEVER_INSTALLED]) assert.ok(!installed.includes(name.split('/')[0]), `${name} was installed with the runtime`);
  const bytes = folderBytes(join(dir, 'node_modules'));
  console.log(`onerec-web installs ${(bytes / MB).toFixed(2)} MB: ${installed.join(', ')}`);
  assert.ok(bytes < 8 * MB, `node_modules is ${(bytes / MB).toFixed(1)} MB`);
  // Its .d.ts, as a strict TypeScript program in a bundler's resolution sees them.
  writeFileSync(join(dir, 'typed.ts'), `import { createWorkerRecommender, type WorkerRecommender } from 'onerec-web/worker';
import { createRecommender, NoBackendError, type RecommendResult } from 'onerec-web';
const worker: WorkerRecommender = createWorkerRecommender({ wasmPaths: '/ort/' });
export const result: Promise<RecommendResult> = worker.recommend([12, 'an-item-id'], { beamWidth: 8 });
export const load = createRecommender().load('/bundles/kuairand/', { device: 'wasm', threads: 2 });
export const name: string = new NoBackendError([]).name;
`);
  await typecheck(dir, ['--module', 'esnext', '--moduleResolution', 'bundler', '--lib', 'es2022,dom', 'typed.ts']);
});

for (const app of Object.keys(APPS) as (keyof typeof APPS)[]) {
  test(`${app}: the production build runs recommend() in a worker with threads 1 and 2, and on onnxruntime-web from wasmPaths, whose files it does not ship`, { timeout: 280_000 }, async () => {
    const root = await built[app]!;
    const shipped = files(root).filter((f) => !f.includes('node_modules')).map((f) => relative(root, f));
    assert.deepEqual(shipped.filter((f) => /ort-wasm|\.wasm$/.test(f)), [], 'onnxruntime-web\'s files are shipped though the kernels run the bundle');
    const server = await startServer({ mounts: { '/': root, '/bundles/kuairand/': BUNDLE, '/ort/': ORT_FILES } });
    const page = await browser.newPage();
    try {
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForFunction(() => 'recommendWith' in window, null, { timeout: 20_000 }).catch(() => assert.fail(`the app did not start: ${errors.join('; ')}`));
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      type Result = { kernelThreads: number; decoder: string; fallbackReasons: string[]; ids: string[][]; error?: string };
      const recommendWith = (loadOptions: object, workerOptions?: object): Promise<Result> =>
        page.evaluate(([l, w]) => (window as unknown as { recommendWith(l: object, w?: object): Promise<Result> }).recommendWith(l, w), [loadOptions, workerOptions] as const);
      for (const threads of [1, 2]) {
        const result = await recommendWith({ threads });
        assert.equal(result.error, undefined);
        assert.equal(result.decoder, 'wasm-simd', result.fallbackReasons.join('; '));
        assert.equal(result.kernelThreads, threads, `threads: ${threads}: ${result.fallbackReasons.join('; ')}`);
        assert.deepEqual(result.ids, expected, `threads: ${threads}`);
      }
      assert.ok(!server.requests.some((r) => r.startsWith('/ort/')), 'onnxruntime-web\'s files were fetched while the kernels ran');
      const unplaced = await recommendWith({ engine: 'onnxruntime' });
      assert.match(unplaced.error ?? '', /^NoBackendError: .*wasm/, 'every graph on onnxruntime-web without wasmPaths, whose default folder the app does not have');
      const onOrt = await recommendWith({ engine: 'onnxruntime' }, { wasmPaths: '/ort/' });
      assert.equal(onOrt.error, undefined);
      assert.equal(onOrt.decoder, 'onnx');
      assert.deepEqual(onOrt.ids, expected, 'every graph on onnxruntime-web');
      assert.ok(server.requests.includes('/ort/ort-wasm-simd-threaded.wasm'), server.requests.join(' '));
    } finally {
      await page.close();
      await server.close();
    }
  });
}

test('esbuild without the worker\'s entries: the call fails with a WorkerTerminatedError that says what to build', { timeout: 280_000 }, async () => {
  const dir = join(await built.esbuild!, 'without-worker');
  mkdirSync(join(dir, 'dist'), { recursive: true });
  cpSync(join(HERE, 'esbuild', 'index.html'), join(dir, 'index.html'));
  await run(join(dir, '..', 'node_modules', '.bin', 'esbuild'), ['../src/app.js', '--bundle', '--format=esm', '--outfile=dist/app.js'], { cwd: dir, env: npmEnv });
  const server = await startServer({ mounts: { '/': dir, '/bundles/kuairand/': BUNDLE } });
  const page = await browser.newPage();
  try {
    await page.goto(server.url);
    await page.waitForFunction(() => 'recommendWith' in window, null, { timeout: 20_000 });
    const result = await page.evaluate(() => (window as unknown as { recommendWith(l: object): Promise<{ error?: string }> }).recommendWith({}));
    assert.match(result.error ?? '', /^WorkerTerminatedError: .*did not load.*onerec-web\/worker\.js/);
  } finally {
    await page.close();
    await server.close();
  }
});

test('the pipeline package: `onerec --help`, and createNodeRecommender on a plain path, with its types', { timeout: 280_000 }, async () => {
  const dir = join(work, 'node');
  mkdirSync(dir);
  // README's recipe for an app that installs the pipeline: the two install scripts in its tree allowed (esbuild's, under
  // tsx; webgpu's), so that npm has nothing to warn about.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pipeline-consumer', private: true, type: 'module', allowScripts: { esbuild: true, webgpu: true } }));
  const output = await npm(dir, ['install', '--no-audit', '--no-fund', await pipelineTarball]);
  assert.doesNotMatch(output, /npm warn/i, 'a fresh install of the pipeline with README\'s allowScripts warns');
  const installed = readdirSync(join(dir, 'node_modules')).filter((n) => !n.startsWith('.'));
  for (const name of NEVER_INSTALLED) assert.ok(!installed.includes(name), `${name} was installed with the pipeline`);
  console.log(`onerec-pipeline installs ${(folderBytes(join(dir, 'node_modules')) / MB).toFixed(1)} MB`);
  const help = await run(join(dir, 'node_modules', '.bin', 'onerec'), ['--help'], { cwd: dir, env: npmEnv });
  for (const verb of ['prepare', 'train', 'export', 'eval', 'serve']) assert.match(help.stdout, new RegExp(`\\b${verb}\\b`));
  writeFileSync(join(dir, 'recommend.mjs'), `import { createNodeRecommender } from 'onerec-pipeline';
const recommender = createNodeRecommender();
await recommender.load(process.argv[2]);
console.log(JSON.stringify((await recommender.recommend(${JSON.stringify(HISTORY)})).sessions.map((s) => s.ids)));
`);
  const bundle = join('node_modules', 'onerec-pipeline', 'models', 'bundles', 'kuairand'); // relative, as a user types it
  const { stdout } = await run(process.execPath, ['recommend.mjs', bundle], { cwd: dir, env: npmEnv });
  assert.deepEqual(JSON.parse(stdout), expected);
  // The entry's types, as a strict TypeScript program that imports the package sees them.
  writeFileSync(join(dir, 'typed.mts'), `import { createNodeRecommender, type NodeRecommenderOptions, type RecommendResult } from 'onerec-pipeline';
const options: NodeRecommenderOptions = { threads: 1 };
const recommender = createNodeRecommender(options);
await recommender.load('bundle');
const result: RecommendResult = await recommender.recommend([12]);
export const ids: string[][] = result.sessions.map((s) => s.ids);
`);
  await typecheck(dir, ['--module', 'nodenext', '--moduleResolution', 'nodenext', 'typed.mts']);
});
