// Do the exported graphs of every quantization run in Chromium under onnxruntime-web (wasm, and WebGPU —
// SwiftShader on CPU machines) and agree with the runtime in Node (createNodeRecommender: onnxruntime-web's wasm
// backend)? A tiny seeded model, the runtime's worker.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium \
//     node --import tsx bench/export-browser.ts wasm|webgpu
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportBundle } from '../models/export/bundle-writer.ts';
import { QUANTIZATIONS } from '../models/export/quantize.ts';
import { createNodeRecommender } from '../runtime-node/node-recommender.ts';
import { openHarness } from '../tests/browser/harness.ts';
import { tinyModel } from '../tests/models/export/fixture.ts';

const histories = [[3, 17, 5, 4, 9], [], [1, 2, 3, 4, 5, 6, 7, 8]];
const arg = process.argv[2];
if (arg !== 'wasm' && arg !== 'webgpu') throw new Error(`usage: node --import tsx bench/export-browser.ts wasm|webgpu (got ${arg})`);
const device: 'wasm' | 'webgpu' = arg;
const root = mkdtempSync(join(tmpdir(), 'onerec-export-browser-'));
try {
  for (const quantization of QUANTIZATIONS) {
    const { weights, config, trie, catalog } = tinyModel();
    const dir = join(root, quantization);
    await exportBundle({ weights, config, trie, catalog, quantization, outDir: dir, beamWidth: 6 });
    const node = createNodeRecommender();
    await node.load(dir);
    const want: Awaited<ReturnType<typeof node.recommend>>[] = [];
    for (const h of histories) want.push(await node.recommend(h));
    await node.dispose();
    const harness = await openHarness(dir, { webgpu: device === 'webgpu' });
    try {
      const started = performance.now();
      const got = await harness.page.evaluate(async ({ url, device, histories }) => {
        window.onerec.recommender = window.onerec.createWorkerRecommender();
        const info = await window.onerec.recommender.load(url, { device });
        const out = [];
        for (const h of histories) out.push((await window.onerec.recommender.recommend(h)).sessions.map((s) => ({ items: Array.from(s.items), logProb: s.logProb })));
        return { ep: info.executionProvider, out };
      }, { url: harness.bundleUrl, device, histories });
      let worst = 0;
      let sameItems = true;
      got.out.forEach((sessions, h) => sessions.forEach((s, b) => {
        worst = Math.max(worst, Math.abs(s.logProb - want[h].sessions[b].logProb));
        sameItems &&= s.items.join() === Array.from(want[h].sessions[b].items).join();
      }));
      console.log(`${quantization.padEnd(5)} ${got.ep.padEnd(7)} max |Δ logProb| vs node ${worst.toExponential(1)}  same sessions: ${sameItems}  (load + 3 requests ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    } finally {
      await harness.close();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
