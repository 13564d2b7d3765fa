// `npm run build` (node build.mjs [--watch]): browser bundles into dist/.
//   dist/worker.js   the Recommender's Web Worker (worker/worker.ts); dist/wasm-helper.js the wasm kernels' helper
//                    threads it starts (worker/wasm-helper.ts)
//   dist/main.js     the demo page's script (demo/main.ts), dist/sw.js its service worker (demo/sw.ts)
//   dist/index.html, dist/*.css   the demo's static files, copied
//   dist/ort/        onnxruntime-web's .mjs/.wasm runtime files (runtime/onnx.ts points wasmPaths here)
//   dist/chunks/     code shared by the entries, and the lazily imported onnxruntime-web builds
//   runtime/wasm/kernels-wasm.ts   with --kernels: runtime/wasm/assembly/kernels.ts (AssemblyScript) compiled to
//                    WebAssembly (SIMD), as base64 in a module that Node and the bundles import alike; committed, and
//                    a test checks that it is what the source compiles to
//   packages/onerec-web/lib/   with --lib: the runtime package (what an app installs) as ES modules + .d.ts
//                    (tsconfig.lib.json), its `exports` (`onerec-web`, `onerec-web/worker`, `onerec-web/worker.js`,
//                    `onerec-web/wasm-helper.js`), with onnxruntime-web's JS API built in (below)
//   packages/onerec-pipeline/  with --pipeline: the pipeline package's files, copied from the repo's own folders
//                    (models/, runtime/, runtime-node/ as TypeScript run through tsx; the demo page built into dist/; types/), and
//                    onnxruntime-web's Node build in dist/ort/ (models/onnx-runtime.ts)
// Entries that do not exist yet are skipped with a note. Tests and the bench import buildBrowser() to
// bundle their own pages the same way.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

// The ORT builds runtime/onnx.ts imports: wasm EP (plain SIMD/threads) and WebGPU EP (asyncify).
const ORT_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/**
 * Bundle `entries` ({ name: path relative to the repo root }) into `outdir` as `<name>.js`, with the ORT
 * runtime files under `outdir/ort/`. `staticDir`: a folder whose html/css/images are copied alongside.
 */
export async function buildBrowser({ outdir, entries, staticDir, watch = false, quiet = false }) {
  const entryPoints = {};
  for (const [name, path] of Object.entries(entries)) {
    if (existsSync(join(root, path))) entryPoints[name] = join(root, path);
    else if (!quiet) console.log(`build: ${path} does not exist yet, skipped`);
  }
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'ort'), { recursive: true });
  const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
  for (const f of ORT_FILES) copyFileSync(join(ortDist, f), join(outdir, 'ort', f));
  if (staticDir && existsSync(staticDir)) {
    for (const f of readdirSync(staticDir)) if (/\.(html|css|svg|png|ico|webmanifest)$/.test(f)) copyFileSync(join(staticDir, f), join(outdir, f));
  }
  const options = {
    entryPoints,
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true, // shared code and the per-EP onnxruntime-web builds become lazily loaded chunks
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // onnxruntime-web's builds that load their .mjs/.wasm from env.wasm.wasmPaths instead of embedding them.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    logLevel: 'warning',
  };
  if (watch) {
    const context = await esbuild.context(options);
    await context.watch();
    return context;
  }
  await esbuild.build(options);
  return null;
}

/** The runtime package's folder; its lib/ is what `npm run build:lib` writes (tsconfig.lib.json's outDir). */
export const RUNTIME_PACKAGE = join(root, 'packages', 'onerec-web');
/** The pipeline package's folder; `node build.mjs --pipeline` copies its files in (the folders below). */
export const PIPELINE_PACKAGE = join(root, 'packages', 'onerec-pipeline');
const PIPELINE_FOLDERS = ['bin', 'models', 'runtime', 'runtime-node', 'dist'];
// ONNX Runtime in Node (models/onnx-runtime.ts): onnxruntime-web's Node build, which loads ort-wasm-simd-threaded.mjs/.wasm
// from its own folder. The package carries it in dist/ort/, next to those files, instead of depending on onnxruntime-web,
// whose dependencies have an install script (protobufjs 7's).
const NODE_ORT = { module: 'models/onnx-runtime.ts', specifier: 'onnxruntime-web', file: 'ort.node.min.mjs', folder: 'dist/ort' };

// onnxruntime-web's JS API, copied into lib/runtime/ as it ships: its "extern wasm" builds (self-contained ES modules)
// load their .mjs/.wasm at run time from `wasmPaths` through imports bundlers are told to ignore, so an app's bundler
// never copies the 43 MB of wasm that its default builds reference, and nothing of it is fetched while the runtime's own
// kernels run the bundle. Specifier → the file under onnxruntime-web/dist/ (the one the extern-wasm condition picks).
const ORT_ENTRIES = { 'onnxruntime-web/wasm': 'ort.wasm.min.mjs', 'onnxruntime-web/webgpu': 'ort.webgpu.min.mjs' };

/**
 * The library build: tsc emits the runtime package's lib/ from tsconfig.lib.json (imports rewritten from .ts to .js);
 * its .d.ts files keep `.ts` specifiers, which a consumer's TypeScript would not resolve, so they are rewritten too.
 * The lazy imports of onnxruntime-web are pointed at its extern-wasm builds, copied into lib/runtime/ (ORT_ENTRIES).
 */
export async function buildLibrary() {
  const lib = join(RUNTIME_PACKAGE, 'lib');
  rmSync(lib, { recursive: true, force: true });
  tsc(['-p', join(root, 'tsconfig.lib.json')]);
  declarationsImportJs(lib);
  for (const file of Object.values(ORT_ENTRIES)) copyFileSync(join(root, 'node_modules', 'onnxruntime-web', 'dist', file), join(lib, 'runtime', file));
  let rewritten = 0;
  for (const file of walkFiles(lib).filter((f) => f.endsWith('.js'))) {
    const source = readFileSync(file, 'utf8');
    if (!/['"]onnxruntime-web/.test(source)) continue; // an import of it, not a comment
    if (dirname(file) !== join(lib, 'runtime')) throw new Error(`build: ${file} imports onnxruntime-web outside lib/runtime/, where build.mjs puts ${Object.values(ORT_ENTRIES).join(' and ')}`);
    const out = source.replace(/import\((['"])(onnxruntime-web\/(?:wasm|webgpu))\1\)/g, (_, quote, specifier) => { rewritten++; return `import(${quote}./${ORT_ENTRIES[specifier]}${quote})`; });
    if (/from\s+['"]onnxruntime-web|import\(['"]onnxruntime-web/.test(out)) throw new Error(`build: ${file} imports onnxruntime-web in a form build.mjs does not rewrite; import onnxruntime-web/wasm or /webgpu lazily`);
    writeFileSync(file, out);
  }
  if (rewritten === 0) throw new Error('build: no import of onnxruntime-web/wasm or /webgpu found in lib/runtime/; ORT_ENTRIES is out of date');
}

function walkFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

function tsc(args) {
  const run = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`build: tsc ${args.join(' ')} failed`);
}

/** tsc's .d.ts files keep `.ts` specifiers, which a consumer's TypeScript would not resolve: `.js`, as the code has. */
function declarationsImportJs(dir) {
  for (const file of walkFiles(dir).filter((f) => f.endsWith('.d.ts'))) {
    writeFileSync(file, readFileSync(file, 'utf8').replace(/(from\s+['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2'));
  }
}

/**
 * The pipeline package's files: the demo page built into its dist/, and the TypeScript of models/, runtime/ and runtime-node/ (run
 * through tsx, as in the repo) and bin/ copied in (tests/ and bench/ stay out), and the .d.ts of its Node entry under
 * types/. Its README, node.mjs and node.d.mts are its own.
 */
export async function stagePipeline() {
  await buildBrowser({ outdir: join(root, 'dist'), entries: DEMO_ENTRIES, staticDir: join(root, 'demo'), quiet: true });
  for (const folder of PIPELINE_FOLDERS) {
    rmSync(join(PIPELINE_PACKAGE, folder), { recursive: true, force: true });
    cpSync(join(root, folder), join(PIPELINE_PACKAGE, folder), { recursive: true, filter: (path) => !path.endsWith('.map') && !path.includes(`${join('runtime', 'wasm', 'assembly')}`) });
  }
  pipelineNodeOrt();
  // The types of its entry (node.d.mts re-exports them): createNodeRecommender and what its signature names.
  const types = join(PIPELINE_PACKAGE, 'types');
  rmSync(types, { recursive: true, force: true });
  tsc(['--declaration', '--emitDeclarationOnly', '--outDir', types, '--rootDir', root, '--types', 'node,@webgpu/types', '--lib', 'es2022,dom,webworker',
    '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', '--allowImportingTsExtensions', join(root, 'runtime-node', 'node-recommender.ts')]);
  declarationsImportJs(types);
}

/** onnxruntime-web's Node build copied into the pipeline package, and the package's models/onnx-runtime.ts importing it. */
function pipelineNodeOrt() {
  const folder = join(PIPELINE_PACKAGE, NODE_ORT.folder);
  for (const f of ORT_FILES.filter((f) => !f.includes('asyncify'))) {
    if (!existsSync(join(folder, f))) throw new Error(`build: ${NODE_ORT.folder}/${f} is missing from the pipeline package; ${NODE_ORT.file} loads it from there`);
  }
  // The build imports onnxruntime-common by name: the package must depend on the version onnxruntime-web was built with.
  const common = JSON.parse(readFileSync(join(root, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).dependencies['onnxruntime-common'];
  const declared = JSON.parse(readFileSync(join(PIPELINE_PACKAGE, 'package.json'), 'utf8')).dependencies['onnxruntime-common'];
  if (declared !== common) throw new Error(`build: packages/onerec-pipeline/package.json depends on onnxruntime-common ${declared}; the onnxruntime-web build it carries needs ${common}`);
  copyFileSync(join(root, 'node_modules', 'onnxruntime-web', 'dist', NODE_ORT.file), join(folder, NODE_ORT.file));
  const module = join(PIPELINE_PACKAGE, NODE_ORT.module);
  const source = readFileSync(module, 'utf8');
  const target = relative(dirname(module), join(folder, NODE_ORT.file)).split('\\').join('/');
  const pattern = new RegExp(`from (['"])${NODE_ORT.specifier}\\1`, 'g');
  const count = source.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`build: ${NODE_ORT.module} imports '${NODE_ORT.specifier}' ${count} times, not once; NODE_ORT is out of date`);
  writeFileSync(module, source.replace(pattern, `from '${target}'`));
}

/** The demo's entries (`npm run build`, and the pipeline package's dist/ that `onerec serve` serves). */
const DEMO_ENTRIES = { worker: 'worker/worker.ts', 'wasm-helper': 'worker/wasm-helper.ts', main: 'demo/main.ts', sw: 'demo/sw.ts' };

/** The options the kernels compile with: SIMD and bulk memory (both in every browser with WebGPU, and Node ≥ 16). */
export const KERNEL_FLAGS = ['-O3', '--noAssert', '--runtime', 'stub', '--enable', 'simd', '--enable', 'bulk-memory', '--importMemory', '--initialMemory', '1'];

/** The four builds: plain SIMD or relaxed SIMD (fused multiply-adds), each over a private or a shared memory (threads). */
export const KERNEL_BUILDS = [
  { name: 'KERNELS_WASM_BASE64', relaxed: false, shared: false },
  { name: 'KERNELS_RELAXED_WASM_BASE64', relaxed: true, shared: false },
  { name: 'KERNELS_SHARED_WASM_BASE64', relaxed: false, shared: true },
  { name: 'KERNELS_RELAXED_SHARED_WASM_BASE64', relaxed: true, shared: true },
];

/**
 * Compile runtime/wasm/assembly/kernels.ts; resolves to the .wasm bytes (asc's messages in the error on failure).
 * `relaxed`: with relaxed SIMD too (fused multiply-adds; Chromium has it, Node 20 only behind a flag). `shared`: importing
 * a shared memory (up to 1 GiB), for the kernels' helper threads.
 */
export async function compileKernels({ relaxed = false, shared = false } = {}) {
  const asc = await import('assemblyscript/asc');
  let binary = null;
  let log = '';
  const extra = [...(relaxed ? ['--enable', 'relaxed-simd'] : []), ...(shared ? ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '16384'] : [])];
  const { error } = await asc.main(['runtime/wasm/assembly/kernels.ts', ...KERNEL_FLAGS, ...extra, '--outFile', 'kernels.wasm'], {
    baseDir: root,
    writeFile: (name, contents) => { if (name.endsWith('.wasm')) binary = contents; },
    stdout: { write: (t) => { log += t; } },
    stderr: { write: (t) => { log += t; } },
  });
  if (error || !binary) throw new Error(`build: the kernels did not compile: ${error?.message ?? 'no output'}\n${log}`);
  return binary;
}

/** The source of runtime/wasm/kernels-wasm.ts for the compiled builds (KERNEL_BUILDS' order). */
export function kernelsModule(binaries) {
  const base64 = (b) => Buffer.from(b).toString('base64');
  const about = { KERNELS_WASM_BASE64: 'plain SIMD', KERNELS_RELAXED_WASM_BASE64: 'with `--enable relaxed-simd` (fused multiply-adds), for engines that validate it', KERNELS_SHARED_WASM_BASE64: 'plain SIMD over a shared memory (threads)', KERNELS_RELAXED_SHARED_WASM_BASE64: 'relaxed SIMD over a shared memory (threads)' };
  return `// Generated by \`node build.mjs --kernels\` from runtime/wasm/assembly/kernels.ts (AssemblyScript ${JSON.stringify(KERNEL_FLAGS.join(' '))}).
// Do not edit: change the source and run the build; tests/runtime/wasm-decoder.test.ts checks the two agree.
${KERNEL_BUILDS.map((b, i) => `/** The kernels ${about[b.name]}. */\nexport const ${b.name} =\n  '${base64(binaries[i])}';`).join('\n')}
`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  if (process.argv.includes('--kernels')) {
    const binaries = [];
    for (const build of KERNEL_BUILDS) binaries.push(await compileKernels(build));
    writeFileSync(join(root, 'runtime', 'wasm', 'kernels-wasm.ts'), kernelsModule(binaries));
    console.log(`build: runtime/wasm/kernels-wasm.ts (${binaries.map((b) => b.length).join(', ')} bytes of WebAssembly) in ${Math.round(performance.now() - started)} ms`);
    process.exit(0);
  }
  if (process.argv.includes('--lib')) {
    await buildLibrary();
    console.log(`build: packages/onerec-web/lib/ in ${Math.round(performance.now() - started)} ms`);
    process.exit(0);
  }
  if (process.argv.includes('--pipeline')) {
    await stagePipeline();
    console.log(`build: packages/onerec-pipeline/ (${PIPELINE_FOLDERS.join(', ')}) in ${Math.round(performance.now() - started)} ms`);
    process.exit(0);
  }
  const watch = process.argv.includes('--watch');
  await buildBrowser({ outdir: join(root, 'dist'), entries: DEMO_ENTRIES, staticDir: join(root, 'demo'), watch });
  console.log(watch ? 'build: watching for changes' : `build: dist/ in ${Math.round(performance.now() - started)} ms`);
}
