// `npm test`: every tests/**/*.test.ts under node's test runner, TypeScript through tsx. CI runs this.
// `npm run test:fast` (`node tests/run.mjs --fast`): the unit tier, every file not in SLOW below — under 2 minutes on
// 2 cores, for the edit–test loop. `node tests/run.mjs --slow` runs only the slow tier. Further arguments filter by
// path substring in either mode (`npm test -- engine`, `npm run test:fast -- runtime/`); `--list` prints the files
// that would run. ONEREC_TEST_CONCURRENCY sets how many files run at once (default 2: on the 2-core machine, 3 was no
// faster, 733 s against 719–741 s for the whole suite).
// The WebGPU engine's tests need a Vulkan driver; on machines without a GPU they use SwiftShader, which
// Debian's chromium package ships (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';

/**
 * The slow tier: files (or folders, ending in /) that drive Chromium, train or run models on the WebGPU engine (on
 * SwiftShader, the CPU, where there is no GPU), compile the wasm kernels or install packages. Times are one file's
 * wall time on the 2-core development machine beside one other test file, longest first. The runner starts
 * the slow tier's files longest first (by this order; a folder's files in path order at its place), then the unit tier's
 * in path order, two at a time: on 2 cores the suite's wall time is then about half its CPU time, where path order left
 * the longest files (tests/runtime/webgpu-*) to run last, one beside the other. A new test file belongs here if it takes
 * more than ~10 s; the table printed at the end of a run gives each file's wall time (a spec module's tests, such as
 * tests/browser/runtime-spec.ts's, are reported under that module and left out of it).
 */
const SLOW = [
  ['tests/runtime/webgpu-search.test.ts', 'the GPU-resident search on SwiftShader against the per-step session, the tiny, KuaiRand, Beauty int4 and ensemble bundles, each read-back mode: ~6–8 min'],
  ['tests/browser/runtime-webgpu.test.ts', 'the runtime spec in Chromium on WebGPU (SwiftShader), 110 recommendations for the memory check: ~5 min'],
  ['tests/runtime/webgpu-reward.test.ts', 'the reward model in WGSL on SwiftShader against onnxruntime, and the WGSL path\'s recommend() on the tiny and KuaiRand bundles (two runners each): ~4 min'],
  ['tests/models/reward/engine-model.test.ts', 'trains the reward model on the engine until it learns a planted target: ~2.5 min'],
  ['tests/models/engine/', 'the engine\'s ops gradient-checked and training steps against float64 references, on SwiftShader: ~5 min over its four files'],
  ['tests/models/seed/train.test.ts', 'trains a tiny seed model to overfit, resumes, a second stage and a distilled student, on the engine: ~2 min'],
  ['tests/models/bundles/', 'onerec prepare on Amazon Beauty, to the shipped trie byte for byte (where ../shared/data and the encoder cache are): ~1.5 min'],
  ['tests/consumers/', 'npm pack, then installs and production builds of Vite, webpack and esbuild apps, checked in Chromium: ~1.5 min'],
  ['tests/runtime/webgpu-decoder.test.ts', 'the WGSL model on SwiftShader against onnxruntime, the shipped KuaiRand bundle and an ensemble: ~70 s'],
  ['tests/models/export/trained-parity.test.ts', 'trains on the engine, then exports and compares the graphs: ~40 s'],
  ['tests/models/seed/dense-head.test.ts', 'the seed model\'s dense retrieval head on the engine: reference forward and gradients, 24 training steps, rankings: ~40 s'],
  ['tests/models/baseline/sasrec.test.ts', 'trains SASRec on the engine: ~30 s'],
  ['tests/runtime/backend-probe-engines.test.ts', 'the load-time probe over the WGSL model on SwiftShader and the wasm kernels, Node\'s and the browser\'s lists, five loads that build the WGSL model: ~30 s'],
  ['tests/runtime/wasm-decoder.test.ts', 'compiles the four AssemblyScript kernel builds and runs the shipped bundles: ~30 s'],
  ['tests/browser/', 'Chromium: the demo page and the wasm runtime spec over HTTP: ~50 s'],
  ['tests/models/seed/item-embedding.test.ts', 'the seed model\'s per-item encoder table on the engine: reference forward, gradient rows, 12 training steps: ~30 s'],
  ['tests/models/seed/model.test.ts', 'the seed model on the engine against the reference forward and its gradients: ~20 s'],
  ['tests/models/align/seed-policy.test.ts', 'the seed model and DPO on the engine: ~12 s'],
  ['tests/runtime/wasm-reward.test.ts', 'the reward graph in the wasm kernels against onnxruntime, the shipped KuaiRand bundle: ~10 s'],
  ['tests/models/commands/train.test.ts', 'onerec train on the engine until --maxMinutes trips: ~9 s'],
];

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.name === 'node_modules' ? [] : e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []);
}

/** Index of the SLOW entry that covers `file`, or -1. */
const slowIndex = (file) => SLOW.findIndex(([path]) => (path.endsWith('/') ? file.startsWith(path) : file === path));


/** Where a file runs: slow-tier files first, in SLOW's order (longest first), then the unit tier. */
const rank = (file) => { const i = slowIndex(file); return i >= 0 ? i : SLOW.length; };

const args = process.argv.slice(2);
const flags = ['--fast', '--slow', '--list', '--run'];
const tier = args.includes('--fast') ? 'fast' : args.includes('--slow') ? 'slow' : 'all';
const filter = args.filter((a) => !flags.includes(a));

if (args.includes('--run')) {
  // The child: node --import tsx tests/run.mjs --run FILE… runs the files in the order given (node's run() keeps it;
  // `node --test FILE…` sorts them), two at a time, each in its own process, and reports TAP.
  const started = new Map();
  const finished = new Map();
  const stream = run({ files: filter.map((f) => resolve(f)), concurrency: Number(process.env.ONEREC_TEST_CONCURRENCY) || 2 });
  // A file's wall time: from its process's dequeue (when it starts) to the last event it reports.
  stream.on('test:dequeue', (data) => { if (data.file && data.name === data.file) started.set(data.file, performance.now()); });
  const seen = (data) => { if (data.file) finished.set(data.file, performance.now()); };
  stream.on('test:pass', seen);
  stream.on('test:fail', (data) => { process.exitCode = 1; seen(data); });
  stream.on('end', () => {
    const rows = [...started].map(([file, t0]) => [((finished.get(file) ?? t0) - t0) / 1000, file]).sort((a, b) => b[0] - a[0]);
    console.error(`# wall seconds per file, first event to last (the ${Math.min(15, rows.length)} longest):`);
    for (const [s, file] of rows.slice(0, 15)) console.error(`#   ${s.toFixed(1).padStart(6)}  ${file.slice(resolve('.').length + 1)}`);
  });
  stream.compose(tap).pipe(process.stdout);
} else {
  const files = find('tests').map((f) => f.split('\\').join('/'))
    .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
    .filter((f) => tier === 'all' || (slowIndex(f) >= 0) === (tier === 'slow'))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  if (files.length === 0) {
    console.error(`no test file matches ${filter.join(' ')} in the ${tier} tier`);
    process.exit(1);
  }
  if (args.includes('--list')) {
    console.log(files.join('\n'));
    process.exit(0);
  }
  const env = { ...process.env };
  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(swiftshader)) {
    env.VK_ICD_FILENAMES = swiftshader;
    env.LD_LIBRARY_PATH = ['/usr/lib/chromium', env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  const self = join(import.meta.dirname, 'run.mjs');
  const result = spawnSync(process.execPath, ['--import', 'tsx', self, '--run', ...files], { stdio: 'inherit', env });
  process.exit(result.status ?? 1);
}
