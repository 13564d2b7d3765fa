// `npm test`: every tests/**/*.test.ts under node's test runner, TypeScript through tsx. CI runs this.
// `npm run test:fast` (`node tests/run.mjs --fast`): the unit tier, every file not in SLOW below — under 2 minutes on
// 2 cores, for the edit–test loop. `node tests/run.mjs --slow` runs only the slow tier. Further arguments filter by
// path substring in either mode (`npm test -- engine`, `npm run test:fast -- runtime/`); `--list` prints the files
// that would run.
// The WebGPU engine's tests need a Vulkan driver; on machines without a GPU they use SwiftShader, which
// Debian's chromium package ships (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The slow tier: files (or folders, ending in /) that drive Chromium, train or run models on the WebGPU engine (on
 * SwiftShader, the CPU, where there is no GPU), compile the wasm kernels or install packages. Seconds are one file's
 * wall time on the 2-core development machine under other work (load average 9–14), longest first. node's runner starts
 * files in path order whatever order they are given in. A new test file belongs here if it takes more than ~10 s.
 */
const SLOW = [
  ['tests/models/seed/train.test.ts', 'trains a tiny seed model to overfit, resumes, a second stage and a distilled student, on the engine: ~5–6 min'],
  ['tests/browser/runtime-webgpu.test.ts', 'the runtime spec in Chromium on WebGPU (SwiftShader), 110 recommendations for the memory check: ~5 min'],
  ['tests/models/bundles/', 'onerec prepare on Amazon Beauty, to the shipped trie byte for byte (where ../shared/data and the encoder cache are): ~4 min'],
  ['tests/consumers/', 'npm pack, then installs and production builds of Vite, webpack and esbuild apps, checked in Chromium: ~3 min'],
  ['tests/runtime/webgpu-decoder.test.ts', 'the WGSL model on SwiftShader against onnxruntime, the shipped KuaiRand bundle and an ensemble: ~4 min'],
  ['tests/runtime/webgpu-search.test.ts', 'the GPU-resident search on SwiftShader against the per-step session, the tiny, KuaiRand, Beauty int4 and ensemble bundles: ~7 min'],
  ['tests/runtime/webgpu-reward.test.ts', 'the reward model in WGSL on SwiftShader against onnxruntime, and the WGSL path\'s recommend() on the tiny and KuaiRand bundles (two runners each): ~5 min'],
  ['tests/models/reward/engine-model.test.ts', 'trains the reward model on the engine until it learns a planted target: 1.5–2.5 min'],
  ['tests/models/engine/', 'the engine\'s ops gradient-checked and training steps against float64 references, on SwiftShader: ~2 min'],
  ['tests/runtime/wasm-decoder.test.ts', 'compiles the four AssemblyScript kernel builds (~45 s) and runs the shipped bundles: ~70 s'],
  ['tests/models/seed/dense-head.test.ts', 'the seed model\'s dense retrieval head on the engine: reference forward and gradients, 24 training steps, rankings: ~90 s'],
  ['tests/models/export/trained-parity.test.ts', 'trains on the engine, then exports and compares the graphs: 40–120 s'],
  ['tests/browser/', 'Chromium: the demo page and the wasm runtime spec over HTTP: ~50 s'],
  ['tests/runtime/backend-probe-engines.test.ts', 'the load-time probe over the WGSL model on SwiftShader and the wasm kernels, Node\'s and the browser\'s lists, five loads that build the WGSL model: ~75 s'],
  ['tests/models/baseline/sasrec.test.ts', 'trains SASRec on the engine: ~20 s'],
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

const args = process.argv.slice(2);
const tier = args.includes('--fast') ? 'fast' : args.includes('--slow') ? 'slow' : 'all';
const filter = args.filter((a) => !['--fast', '--slow', '--list'].includes(a));
const files = find('tests').map((f) => f.split('\\').join('/'))
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .filter((f) => tier === 'all' || (slowIndex(f) >= 0) === (tier === 'slow'))
  .sort();
if (files.length === 0) {
  console.error(`no test file matches ${filter.join(' ')} in the ${tier} tier`);
  process.exit(1);
}
const env = { ...process.env };
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!env.VK_ICD_FILENAMES && !env.VK_DRIVER_FILES && existsSync(swiftshader)) {
  env.VK_ICD_FILENAMES = swiftshader;
  env.LD_LIBRARY_PATH = ['/usr/lib/chromium', env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}
if (args.includes('--list')) {
  console.log(files.join('\n'));
  process.exit(0);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
