// Fits a bundle's repeat-awareness layer (models/seed/history-bias.ts) on the engine the runtime runs it on without
// WebGPU, its wasm kernels (runtime-node/node-recommender.ts createNodeSeedEngine): the exported graphs, frozen,
// teacher-forced on each user's last training transition (never a validation or test item).
import type { TrieView } from '../../runtime/beam-search.ts';
import type { EngineModelConfig } from '../../runtime/model-config.ts';
import { encoderTokens } from '../../runtime/tokens.ts';
import { createNodeSeedEngine } from '../../runtime-node/node-recommender.ts';
import { evalExamples, type Example, type SeedData } from '../seed/batches.ts';
import type { SeedConfig } from '../seed/config.ts';
import { fitHistoryBias, levelStatistics, type HistoryBiasFit, type LevelStatistics } from '../seed/history-bias.ts';
import { sampleExamples } from './evaluate.ts';

export interface HistoryBiasFitOptions {
  split: 'train' | 'validation'; // whose transitions: each user's last training one, or the validation one (held-out targets)
  users: number; // a seeded subset of users (0 = all with a training transition)
  seed: number;
  bound: number; // |β| ≤ bound
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_HISTORY_BIAS_FIT: HistoryBiasFitOptions = { split: 'train', users: 5000, seed: 7, bound: 8 };

/** Per user the last training transition: target = the last training item, history = everything before it. */
export function lastTrainExamples(data: SeedData): Example[] {
  const out: Example[] = [];
  data.sequences.forEach((seq, user) => {
    if (seq.length >= 4) out.push({ user, targetStart: seq.length - 3 });
  });
  return out;
}

/**
 * `config`: the graphs' contract config (an ensemble's: manifest.model); `members`: the model's config, or an ensemble's
 * members' (manifest.ensemble.members), as the runtime's engines read them.
 */
export async function fitBundleHistoryBias(config: SeedConfig, members: EngineModelConfig[], graphs: { encoder: Uint8Array; decoderStep: Uint8Array }, trie: TrieView, data: SeedData, options: HistoryBiasFitOptions = DEFAULT_HISTORY_BIAS_FIT): Promise<HistoryBiasFit> {
  const examples = sampleExamples(options.split === 'train' ? lastTrainExamples(data) : evalExamples(data, 'validation'), options.users, options.seed);
  const levels: LevelStatistics[] = Array.from({ length: config.levels }, () => ({ S: new Float64Array(examples.length), y: new Uint8Array(examples.length) }));
  const engine = await createNodeSeedEngine(graphs, members);
  try {
    for (const [i, ex] of examples.entries()) {
      const seq = data.sequences[ex.user];
      const history = seq.subarray(0, ex.targetStart);
      const session = engine.sessionFromTokens(encoderTokens(history, data.codes, config.levels, config.codebookSize, config.maxHistory), 1);
      try {
        // The bias sees the whole history (as the runtime's excludeHistory does), the encoder its last maxHistory items.
        const { S, y } = await levelStatistics(session, trie, history, seq[ex.targetStart], data.codes);
        for (let l = 0; l < config.levels; l++) {
          levels[l].S[i] = S[l];
          levels[l].y[i] = y[l];
        }
      } finally {
        session.dispose?.();
      }
      options.onProgress?.(i + 1, examples.length);
    }
  } finally {
    engine.dispose();
  }
  return fitHistoryBias(levels, options.bound);
}
