// One command on the GPU machine: the toy training step on this engine, PyTorch eager and TensorFlow.js
// (webgpu), plus the matmul kernel's TFLOP/s, merged into train_step-h200.json (bench/README.md has the
// exact device command). Each system runs in its own process, one after the other.
//   node --import tsx bench/train-step-all.ts --out=DIR [--configs=64x128,256x256]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions } from '../models/options.ts';

const opts = parseOptions(process.argv.slice(2), { out: '.work/bench', configs: '64x128,256x256', steps: 50, tfjsSteps: 10, python: 'python3', skip: '' });
if (!opts) process.exit(0);
const skip = new Set(opts.skip.split(',').filter(Boolean));
const node = (script: string, args: string[]) => [process.execPath, ['--import', 'tsx', script, ...args]] as const;
const jobs: [string, string, readonly string[]][] = [
  ['engine', ...node('bench/train-step.ts', [`--configs=${opts.configs}`, `--steps=${opts.steps}`, `--out=${join(opts.out, 'engine.json')}`])],
  ['pytorch', opts.python, ['bench/train-step-torch.py', '--configs', opts.configs, '--steps', String(opts.steps), '--out', join(opts.out, 'pytorch.json')]],
  ['tfjs', ...node('bench/train-step-tfjs.ts', [`--configs=${opts.configs}`, `--steps=${opts.tfjsSteps}`, `--out=${join(opts.out, 'tfjs.json')}`])],
  ['matmul', ...node('bench/matmul.ts', [`--out=${join(opts.out, 'matmul.json')}`])],
];
const runs: Record<string, unknown> = {};
for (const [name, cmd, args] of jobs) {
  if (skip.has(name)) continue;
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  runs[name] = { status: r.status, seconds: (Date.now() - t0) / 1000 };
}
const load = (f: string) => (existsSync(join(opts.out, f)) ? JSON.parse(readFileSync(join(opts.out, f), 'utf8')) : null);
const [engine, pytorch, tfjs, matmul] = ['engine.json', 'pytorch.json', 'tfjs.json', 'matmul.json'].map(load);
type Row = { config: string; ms_per_step: number; tokens_per_s: number; [k: string]: unknown };
const find = (sys: { results: Row[] } | null, config: string) => sys?.results.find((r) => r.config === config) ?? null;
const configs = (engine?.results ?? []).map((e: Row) => {
  const p = find(pytorch, e.config), t = find(tfjs, e.config);
  return {
    config: e.config, batch: e.batch, dim: e.dim, seq: 32, vocab: 1024, blocks: 2, heads: 4,
    engine: { ...e, ratio_to_pytorch: p ? p.ms_per_step / e.ms_per_step : null },
    pytorch: p, tfjs: t ? { ...t, ratio_to_pytorch: p ? p.ms_per_step / t.ms_per_step : null } : null,
  };
});
const merged = {
  what: 'toy training step (bench/train-step-model.ts): 2 causal blocks, 4 heads, vocab 1024, seq 32, Adam, fp32; ratio_to_pytorch = PyTorch ms/step ÷ system ms/step (throughput ratio)',
  date: new Date().toISOString(), adapter: engine?.adapter ?? null,
  pytorch: pytorch ? { version: pytorch.version, device: pytorch.device, tf32: pytorch.tf32 } : null,
  tfjs: tfjs ? { version: tfjs.version } : null,
  configs, matmul: matmul?.results ?? null, runs,
};
writeFileSync(join(opts.out, 'train_step-h200.json'), JSON.stringify(merged, null, 2));
console.log(JSON.stringify(configs.map((c: { config: string; engine: Row; pytorch: Row | null; tfjs: Row | null }) =>
  ({ config: c.config, engine: c.engine.ms_per_step, pytorch: c.pytorch?.ms_per_step, tfjs: c.tfjs?.ms_per_step, ratio: c.engine.ratio_to_pytorch }))));
