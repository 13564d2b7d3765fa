// fp32 matmul throughput of the engine's register-blocked kernel at N × N × N (N = 1024, 2048, 4096), per
// tile configuration and for the automatic choice. Run by bench/train-step-all.ts; alone:
//   node --import tsx bench/matmul.ts --sizes=1024,2048,4096 --out=matmul.json
import { writeFileSync } from 'node:fs';
import { parseOptions } from '../models/options.ts';
import { createEngine, Rng } from '../models/engine/index.ts';
import { launchMatmul } from '../models/engine/matmul.ts';

const opts = parseOptions(process.argv.slice(2), { sizes: '1024,2048,4096', reps: 20, out: '' });
if (!opts) process.exit(0);
const engine = await createEngine();
const rng = new Rng(1);
const results: { n: number; tile: string; ms: number; tflops: number }[] = [];
for (const n of opts.sizes.split(',').map(Number)) {
  const data = () => Float32Array.from({ length: n * n }, () => rng.next() - 0.5);
  const a = engine.keep(engine.upload(data(), [n, n])), b = engine.keep(engine.upload(data(), [n, n]));
  const c = engine.keep(engine.empty([n, n]));
  for (const tile of ['auto', 'big', 'mid'] as const) {
    const launch = () => launchMatmul(engine, a, b, c, { M: n, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false, tile: tile === 'auto' ? undefined : tile });
    for (let i = 0; i < 3; i++) launch();
    await engine.sync();
    const reps = Math.min(200, Math.max(10, Math.round((opts.reps * 4096 ** 3) / n ** 3)));
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) launch();
    await engine.sync();
    const ms = (performance.now() - t0) / reps;
    const tflops = (2 * n ** 3) / (ms * 1e-3) / 1e12;
    console.log(`[matmul] ${n}×${n}×${n} ${tile}: ${ms.toFixed(3)} ms, ${tflops.toFixed(2)} TFLOP/s`);
    results.push({ n, tile, ms, tflops });
  }
  for (const t of [a, b, c]) engine.free(t);
  engine.endStep();
}
if (opts.out) writeFileSync(opts.out, JSON.stringify({ adapter: engine.adapter, results }, null, 2));
process.exit(0);
