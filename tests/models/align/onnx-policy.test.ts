// An exported bundle as an evaluation-only alignment policy: the same beams as the bundle's own decoder
// sessions, through the same searchUsers path the alignment evaluation uses; training is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { searchUsers, type IterateOptions } from '../../../models/align/iterate.ts';
import { OnnxPolicy } from '../../../models/align/onnx-policy.ts';
import { readBundle } from '../../../models/export/bundle-reader.ts';
import { OnnxSeedModel } from '../../../models/export/node-session.ts';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { writeTestBundle } from '../../runtime/fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'onnx-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('OnnxPolicy: searchUsers gives exactly the beams of the bundle\'s own sessions; DPO is refused', async () => {
  const fixture = await writeTestBundle(dir, { items: 40, seed: 11 });
  const bundle = await readBundle(dir);
  const model = await OnnxSeedModel.create(bundle.manifest.model, bundle.files.encoder!, bundle.files.decoderStep!);
  const policy = new OnnxPolicy(model, fixture.codes, dir);
  const { levels, codebookSize, maxHistory, sessionLength } = fixture.config;
  const histories = [Int32Array.of(3, 7, 11), Int32Array.of(), Int32Array.of(39, -1, 0, 5, 5)];
  const options: IterateOptions = { sessionLength, sessions: 4, userFraction: 1, beta: 0.1, ntpWeight: 1, learningRate: 0, dpoEpochs: 1, batchSize: 1, evalBeams: 4, usersPerBatch: 2, excludeHistory: false, seed: 1 };
  const results = await searchUsers(policy, bundle.trie, histories.map((history, user) => ({ user, history })), 4, options);
  for (const [i, h] of histories.entries()) {
    const direct = await beamSearch(await model.session(encoderTokens(h.filter((v) => v >= 0), fixture.codes, levels, codebookSize, maxHistory)), bundle.trie, { beamWidth: 4, sessionLength });
    assert.deepEqual(Array.from(results[i].items), Array.from(direct.items), `history ${i}: same sessions`);
    assert.deepEqual(Array.from(results[i].logProb), Array.from(direct.logProb), `history ${i}: same log-probabilities`);
  }
  await assert.rejects(policy.dpoStep(), (e: Error) => e.name === 'RewardDataError' && /only generates/.test(e.message));
  await model.release();
});
