// The GPU k-means path (models/semantic-ids/gpu-kmeans.ts) against the CPU path, on the engine's SwiftShader adapter:
// argminRows' tie rule on hand-built distances; on well-separated blobs (a capacity move included) exactly the CPU
// path's assignments, centroids and codes; on random data a quantization error within 1 % of the CPU's and unique
// IDs; several chunks of rows give the same assignments as one; --kmeansDevice=gpu with no adapter is a typed error;
// prepare's report.json names the device.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { argminRows, createEngine, matmul, type Engine } from '../../../models/engine/index.ts';
import { seededRandom } from '../../../models/random.ts';
import { GpuAssigner } from '../../../models/semantic-ids/gpu-kmeans.ts';
import { plainKMeans } from '../../../models/semantic-ids/kmeans.ts';
import { residualKMeans, residualKMeansGpu, semanticIdStats } from '../../../models/semantic-ids/semantic-ids.ts';
import { chooseKMeansDevice, GPU_KMEANS_MIN_ITEMS } from '../../../models/semantic-ids/kmeans-device.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';

let engine: Engine;
before(async () => { engine = await createEngine({ quiet: true }); });

test('argminRows: equal values go to the lower column; offset and scale apply before the comparison', async () => {
  // Point (1, 1) against centroids (1, 0), (0, 1), (2, 2), (0, 0): ‖c‖² − 2 x·c = −1, −1, 0, 0 (all exact in float32).
  const x = engine.upload(Float32Array.of(1, 1, 0, 0), [2, 2]); // [points, dim]; the second point is the origin
  const c = engine.upload(Float32Array.of(1, 0, 0, 1, 2, 2, 0, 0), [4, 2]); // [centroids, dim]
  const norms = engine.upload(Float32Array.of(1, 1, 8, 0), [4]);
  const nearest = await engine.readInt(argminRows(matmul(x, c, { transB: true }), { offset: norms, scale: -2 }));
  // The origin: 1, 1, 8, 0 → centroid 3.
  assert.deepEqual([...nearest], [0, 3]);
  const plain = await engine.readInt(argminRows(engine.upload(Float32Array.of(2, 1, 1, 1, 5, 5, 5, 5), [2, 4])));
  assert.deepEqual([...plain], [1, 0]);
  engine.endStep();
});

/**
 * 8 blobs 100 apart; inside each, the same 8 sub-blobs 10 apart (sizes 12, 4, 8, … 8: 64 items per blob), each a point
 * plus noise of 0.01. Residual k-means at K 8 finds the blobs, then the sub-blobs; the sub-blob of 12 holds more than K
 * items, so capLastLevel moves 4 of them.
 */
function hierarchicalBlobs(dim: number, seed: number): { points: Float32Array; items: number } {
  const r = seededRandom(seed);
  const direction = (scale: number) => Float32Array.from({ length: dim }, () => r.normal() * scale);
  const blobs = Array.from({ length: 8 }, () => direction(100));
  const subBlobs = Array.from({ length: 8 }, () => direction(10));
  const sizes = [12, 4, 8, 8, 8, 8, 8, 8];
  const rows: number[] = [];
  for (const blob of blobs) {
    for (const [s, sub] of subBlobs.entries()) {
      for (let t = 0; t < sizes[s]; t++) for (let d = 0; d < dim; d++) rows.push(blob[d] + sub[d] + r.normal() * 0.01);
    }
  }
  // Shuffle the rows so that blob membership is not the item order.
  const items = rows.length / dim;
  const order = Array.from({ length: items }, (_, i) => i);
  for (let i = items - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const points = new Float32Array(rows.length);
  for (let i = 0; i < items; i++) points.set(rows.slice(order[i] * dim, (order[i] + 1) * dim), i * dim);
  return { points, items };
}

test('well-separated blobs: the GPU path gives the CPU path\'s assignments, centroids and codes, a capacity move included', async () => {
  const dim = 16;
  const { points, items } = hierarchicalBlobs(dim, 3);
  const options = { levels: 2, codebookSize: 8, balanced: false, maxIterations: 50, seed: 11 };
  const cpu = residualKMeans(points, items, dim, options);
  const gpu = await residualKMeansGpu(points, items, dim, { ...options, engine, chunkRows: 128 });
  assert.deepEqual(gpu.codes, cpu.codes);
  assert.deepEqual(gpu.iterations, cpu.iterations);
  for (let l = 0; l < 2; l++) assert.deepEqual(gpu.codebooks[l], cpu.codebooks[l], `level ${l + 1} centroids`);
  assert.equal(cpu.capacityMoved, 4 * 8);
  assert.equal(gpu.capacityMoved, cpu.capacityMoved);
  assert.equal(semanticIdStats(gpu, points, items, dim, 8).unique_ids, items);
});

test('random data: the GPU path\'s quantization error is within 1 % of the CPU path\'s and every ID is unique', async () => {
  // Uniform points have many near-ties: float32 sums in the matmul's order (GPU) and float64 (CPU) may send a point
  // within rounding of two centroids to different ones, and the passes then go their own ways. Both still reach a
  // local optimum of about the same error. Runs of this size (2,000 × 16, K 16, seeds 21–23) came out identical;
  // 1 % leaves room for flips while a wrong assignment rule (e.g. ties or offsets mishandled) costs far more.
  const r = seededRandom(21);
  const items = 1500;
  const dim = 16;
  const K = 16;
  const points = Float32Array.from({ length: items * dim }, () => r.next());
  const options = { levels: 2, codebookSize: K, balanced: false, maxIterations: 6, seed: 5 };
  const cpu = semanticIdStats(residualKMeans(points, items, dim, options), points, items, dim, K);
  const gpu = semanticIdStats(await residualKMeansGpu(points, items, dim, { ...options, engine }), points, items, dim, K);
  assert.equal(gpu.unique_ids, items);
  assert.equal(gpu.suffix_overflow, 0);
  const gap = Math.abs(gpu.quantization_error - cpu.quantization_error) / cpu.quantization_error;
  assert.ok(gap < 0.01, `GPU error ${gpu.quantization_error} vs CPU ${cpu.quantization_error} (${(gap * 100).toFixed(2)} %)`);
});

test('one assignment pass: chunks of 64 rows and one chunk give the same assignments as the CPU pass', async () => {
  const r = seededRandom(8);
  const n = 1000; // not a multiple of 64: the last chunk is short
  const dim = 8;
  const k = 32;
  // Gaussian points and centroids drawn among them: the nearest centroid is clear for nearly every point, and the
  // CPU's first Lloyd's pass from the same centroids is the reference.
  const points = Float32Array.from({ length: n * dim }, () => r.normal());
  const cpu = plainKMeans(points, n, dim, { clusters: k, maxIterations: 1, seed: 4, threads: 1 });
  const { kMeansPlusPlus } = await import('../../../models/semantic-ids/kmeans.ts');
  const centroids = kMeansPlusPlus(points, n, dim, k, 4);
  for (const chunkRows of [64, 1024]) {
    const assigner = new GpuAssigner(engine, points, n, dim, k, chunkRows);
    const nearest = await assigner.nearest(centroids);
    assigner.close();
    assert.deepEqual(nearest, cpu.assignment, `chunkRows ${chunkRows}`);
  }
  assert.throws(() => new GpuAssigner(engine, points, n, dim, k, 100), { name: 'KMeansDeviceError' });
});

test('device choice: cpu and small catalogs never open the GPU; gpu with no adapter is a KMeansDeviceError', async () => {
  assert.equal((await chooseKMeansDevice('cpu', 5_000_000)).device, 'cpu');
  assert.equal((await chooseKMeansDevice('auto', GPU_KMEANS_MIN_ITEMS - 1)).device, 'cpu');
  // A Vulkan loader pointed at no driver: Dawn finds no adapter.
  const script = `
    const { chooseKMeansDevice } = await import('./models/semantic-ids/kmeans-device.ts');
    try { await chooseKMeansDevice('gpu', 10); console.log('no error'); }
    catch (error) { console.log(error.name + ': ' + error.message); }
    const auto = await chooseKMeansDevice('auto', 10_000_000);
    console.log('auto: ' + auto.device);
    process.exit(0);`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, VK_ICD_FILENAMES: 'no-such-driver.json', VK_DRIVER_FILES: 'no-such-driver.json' }, encoding: 'utf8', timeout: 120_000,
  });
  assert.match(child.stdout, /KMeansDeviceError: --kmeansDevice=gpu: no WebGPU adapter/);
  assert.match(child.stdout, /auto: cpu/);
});

/** 60 items in 6 attribute groups; 40 users who each browse inside one group. */
function tinyDataset(): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-kmeans-device-'));
  const r = seededRandom(5);
  writeFileSync(join(dir, 'items.jsonl'), Array.from({ length: 60 }, (_, i) => JSON.stringify({ item: `i${i}`, attributes: [`group:${i % 6}`, `size:${i % 5}`] })).join('\n') + '\n');
  const lines = ['user,item,timestamp'];
  for (let u = 0; u < 40; u++) for (let k = 0; k < 8; k++) lines.push(`u${u},i${(u % 6) + 6 * r.int(10)},${1_650_000_000 + u * 10 + k * 60}`);
  writeFileSync(join(dir, 'interactions.csv'), lines.join('\n') + '\n');
  return dir;
}

test('prepare: report.json names the k-means device; --kmeansDevice=gpu with balanced k-means fails before reading', async () => {
  const config = { ...DEFAULT_PREPARE_CONFIG, levels: 2, codebookSize: 8, idDim: 0, maxIterations: 20, evalPairs: 10, content: 'features', baseline: false };
  const out = mkdtempSync(join(tmpdir(), 'onerec-kmeans-device-out-'));
  const report = await prepare({ ...config, data: tinyDataset(), out });
  assert.equal((report.kmeans_device as { device: string }).device, 'cpu');
  assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).kmeans_device.device, 'cpu');
  await assert.rejects(prepare({ ...config, semanticIds: 'balanced', kmeansDevice: 'gpu', data: 'no-such-folder', out }), { name: 'KMeansDeviceError' });
});
