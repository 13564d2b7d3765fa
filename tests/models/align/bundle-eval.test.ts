// `onerec align --evalBundles` generates through the runtime's recommend() (the wasm kernels): the same sessions, in
// the same order, as the constrained beam search over the bundle's own graphs under ONNX Runtime (onnxruntime-web's
// wasm backend), which is how the alignment evaluated bundles before; with --excludeHistory no history item is generated.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { recommendUsers } from '../../../models/align/bundle-eval.ts';
import type { IterateOptions } from '../../../models/align/iterate.ts';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { OnnxSeedModel } from '../../../runtime-node/node-session.ts';
import { createNodeRecommender } from '../../../runtime-node/node-recommender.ts';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { writeTestBundle } from '../../runtime/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'align-bundle-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('recommendUsers: the runtime\'s sessions are the beams of the bundle\'s graphs (exact items), history excluded on request', async () => {
  const fixture = await writeTestBundle(dir, { items: 40, seed: 11 });
  const bundle = await readBundle(dir);
  const model = await OnnxSeedModel.create(bundle.manifest.model, bundle.files.encoder!, bundle.files.decoderStep!);
  const recommender = createNodeRecommender({ engine: 'auto' });
  try {
    assert.equal((await recommender.load(dir)).decoder, 'wasm-simd');
    const { levels, codebookSize, maxHistory, sessionLength } = fixture.config;
    const histories = [Int32Array.of(3, 7, 11), Int32Array.of(), Int32Array.of(39, -1, 0, 5, 5)];
    const users = histories.map((history, user) => ({ user, history }));
    for (const excludeHistory of [false, true]) {
      const options: IterateOptions = { sessionLength, sessions: 4, userFraction: 1, beta: 0.1, ntpWeight: 1, learningRate: 0, dpoEpochs: 1, batchSize: 1, evalBeams: 4, usersPerBatch: 2, excludeHistory, seed: 1 };
      const results = await recommendUsers(recommender, users, options);
      for (const [i, h] of histories.entries()) {
        const known = h.filter((v) => v >= 0);
        const exclude = excludeHistory ? Uint8Array.from({ length: fixture.items }, (_, item) => (known.includes(item) ? 1 : 0)) : undefined;
        const direct = await beamSearch(await model.session(encoderTokens(known, fixture.codes, levels, codebookSize, maxHistory)), bundle.trie, { beamWidth: 4, sessionLength, exclude });
        assert.deepEqual(Array.from(results[i].items), Array.from(direct.items), `history ${i}, excludeHistory ${excludeHistory}: same sessions`);
        direct.logProb.forEach((v, b) => assert.ok(Math.abs(v - results[i].logProb[b]) <= 1e-4, `history ${i} session ${b}: ${results[i].logProb[b]} vs ${v}`));
        if (excludeHistory) assert.ok(Array.from(results[i].items).every((item) => !known.includes(item)));
      }
    }
  } finally {
    await Promise.all([recommender.dispose(), model.release()]);
  }
});
