// Test/validation evaluation of a trained seed model on the GPU (shared by `onerec train` at the end of a
// run and `onerec eval --checkpoint`): full split, constrained beam, the report's metric keys.
import type { BeamSearchResult, TrieView } from '../../runtime/beam-search.ts';
import { progressBar } from '../progress.ts';
import { type Example, type SeedData, type Split } from './batches.ts';
import { evaluateRanking } from './generate.ts';
import type { RankingMetrics } from './metrics.ts';
import type { SeedModel } from './model.ts';
import { hasDenseHead } from './config.ts';
import { validationSubset } from './train.ts';

export interface SplitReport extends RankingMetrics {
  split: Exclude<Split, 'train'>;
  beam_width: number;
  exclude_history: boolean;
  seconds: number;
  users_in_split: number;
  dense_mix?: number; // λ of the hybrid ranking (generate.ts mixDense; 0 = the beam's), reported for denseHead models and whenever λ > 0
}

/** `onResult` gets each user's example (user, target position) with the beam's ranking. */
export async function evaluateSplit(model: SeedModel, data: SeedData, trie: TrieView, split: Exclude<Split, 'train'>, beamWidth: number, excludeHistory: boolean, users = 0, quiet = false, denseMix = 0, onResult?: (example: Example, result: BeamSearchResult) => void): Promise<SplitReport> {
  const examples = validationSubset(data, users, 1, split); // users = 0: the whole split
  const usersInSplit = validationSubset(data, 0, 1, split).length;
  const started = Date.now();
  const bar = quiet ? null : progressBar(`${split} (beam ${beamWidth})`, examples.length);
  const metrics = await evaluateRanking(model, data, trie, examples, {
    beamWidth, usersPerBatch: 256, excludeHistory, denseMix, onProgress: (done) => bar?.update(done),
    onResult: onResult && ((i, result) => onResult(examples[i], result)),
  });
  bar?.stop();
  return { split, ...metrics, users_in_split: usersInSplit, beam_width: beamWidth, exclude_history: excludeHistory, ...((denseMix > 0 || hasDenseHead(model.config)) && { dense_mix: denseMix }), seconds: (Date.now() - started) / 1000 };
}

