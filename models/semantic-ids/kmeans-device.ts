// Where plain k-means' assignment passes run: `--kmeansDevice=cpu|gpu|auto` of onerec prepare.
//  - cpu: worker threads, exact (float64 distances, Elkan's bounds; kmeans.ts, parallel.ts).
//  - gpu: the WebGPU engine (gpu-kmeans.ts), any adapter, a software one included (correct, slow: for tests).
//  - auto: the GPU when the catalog has at least GPU_KMEANS_MIN_ITEMS items and Dawn finds a hardware adapter; the
//    CPU otherwise, so the shipped catalogs (≤ 12,101 items) and every test keep their exact IDs.
import { KMeansDeviceError } from './errors.ts';
import type { Engine } from '../engine/index.ts';

export type KMeansDevice = 'cpu' | 'gpu' | 'auto';

/**
 * Catalogs from this many items take the GPU under `auto`. The CPU path spent 490 s on all passes of plain k-means
 * (3 levels × K 256) on the 100,000-item synthetic log (2 threads, bench/README.md "Scale: prepare"): its cost grows
 * with items × passes, so about 200,000 items is where it alone would take prepare's whole 15-minute budget of issue
 * #22. Below that the CPU is fast enough and exact (float64 distances; the GPU's float32 sums can flip near-ties, so
 * its IDs are not bit-identical to the CPU's), which keeps the IDs of every catalog the project ships or tests.
 */
export const GPU_KMEANS_MIN_ITEMS = 200_000;

export interface KMeansDeviceChoice {
  device: 'cpu' | 'gpu';
  engine?: Engine; // when device is 'gpu'
  adapter?: string; // the adapter's description, when one was opened
  reason: string; // why this device, for prepare's log and report
}

/** Opens the engine when the request and the catalog size call for the GPU; throws KMeansDeviceError for `gpu` without an adapter. */
export async function chooseKMeansDevice(requested: KMeansDevice, items: number, log: (line: string) => void = () => {}): Promise<KMeansDeviceChoice> {
  if (requested === 'cpu') return { device: 'cpu', reason: '--kmeansDevice=cpu' };
  if (requested === 'auto' && items < GPU_KMEANS_MIN_ITEMS) {
    return { device: 'cpu', reason: `auto: ${items} items < ${GPU_KMEANS_MIN_ITEMS} (below it the CPU path is fast enough and exact)` };
  }
  let engine: Engine;
  try {
    const { createEngine } = await import('../engine/index.ts'); // Dawn is loaded only when a GPU is wanted
    engine = await createEngine({ quiet: true });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (requested === 'auto') return { device: 'cpu', reason: `auto: no GPU (${why.split(':')[0]})` };
    throw new KMeansDeviceError(`--kmeansDevice=gpu: no WebGPU adapter (${why}). Run on a machine with a GPU and its driver, point VK_ICD_FILENAMES at a software Vulkan driver (correct but slow), or use --kmeansDevice=cpu or auto`);
  }
  if (requested === 'auto' && engine.isFallback) {
    return { device: 'cpu', adapter: engine.adapter, reason: `auto: only a software adapter (${engine.adapter}), slower than the CPU threads` };
  }
  if (engine.isFallback) log(`k-means on a software adapter (${engine.adapter}): correct but slow; --kmeansDevice=cpu is faster here`);
  return { device: 'gpu', engine, adapter: engine.adapter, reason: `--kmeansDevice=${requested}: ${engine.adapter}` };
}
