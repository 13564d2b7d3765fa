// onerec export: a trained seed-model checkpoint (or seeded random weights) + the prepared data it was
// trained on → a bundle directory (ONNX graphs, trie, catalog, manifest.json) that the browser runtime loads.
//
//   onerec export --checkpoint runs/beauty/seed/best.ckpt --data runs/beauty --out runs/beauty/bundle-int4 --quantization=int4
//   onerec export --checkpoint random --data runs/beauty --out runs/beauty/bundle-random   # untrained, for wiring tests
//   onerec export --checkpoint runs/beauty/seed-a/best.ckpt,runs/beauty/seed-b/best.ckpt --data runs/beauty --out runs/beauty/bundle-ens   # an ensemble
//   onerec export --checkpoint runs/kuairand/align/aligned.ckpt --reward runs/kuairand/align/reward.ckpt --data runs/kuairand --out runs/kuairand/bundle
//   onerec eval --bundle runs/beauty/bundle-int4 --data runs/beauty --split test --out runs/beauty/eval-int4
//
// The stage is models/export/export-checkpoints.ts.
import { parseOptions } from '../options.ts';
import { exportCheckpoints } from '../export/export-checkpoints.ts';

export const summary = 'export a seed-model checkpoint as an ONNX bundle (fp32 | int8 | int4) with trie, catalog and manifest';

const DEFAULTS = {
  checkpoint: '', // seed checkpoint (models/engine/checkpoint.ts), several comma-separated for an ensemble (their logits averaged), or "random" for seeded untrained weights
  data: '', // prepared data dir (onerec prepare --out): its trie and item catalog go into the bundle
  out: '', // bundle directory to write
  quantization: 'int4', // fp32 | int8 | int4 (MatMulNBits; see docs/architecture.md "ONNX graphs")
  name: '', // bundle name shown by the demo; default: the data directory's name + quantization
  beamWidth: 10, // the runtime's default beams (manifest.generation.beamWidth)
  seed: 1, // RNG seed of --checkpoint random
  reward: '', // optional reward-model checkpoint (onerec align's reward.ckpt): adds reward.onnx and manifest.reward
  metrics: '', // optional report.json of `onerec eval --bundle` on this bundle, copied into manifest.metrics
  historyBias: 'fit', // the repeat-awareness layer (manifest.historyBias): 'fit' on the training data (models/seed/history-bias.ts), 'none', or 'b1,b2,…'
  historyBiasUsers: 5000, // users whose last training transition the fit uses (0 = all)
  transitions: 'fit', // the transition prior that reranks the candidates (transitions.bin, manifest.transitions; runtime/transitions.ts): 'fit' (λ and η on the validation split), 'none', or λ (η 0)
  transitionsUsers: 4000, // validation users whose candidates the fit reranks (0 = all)
  transitionsCandidates: 10, // sessions of one item: the table's top items added to the beam's, scored by the model (0: the prior only reorders the beam)
  transitionsThrough: 'validation', // the shipped table counts transitions through this split: 'validation' (all but test's) or 'train' (λ, η are always fitted with the training split's)
  transitionsHistory: 0, // η with a fixed --transitions=λ (the fit chooses its own): added per session item the user already has
};

export async function run(argv: string[]): Promise<void> {
  const options = parseOptions(argv, DEFAULTS, `onerec export --checkpoint FILE --data PREPARED --out DIR [--key=value …]\n${summary}`, { required: ['checkpoint', 'data', 'out'] });
  if (!options) return;
  await exportCheckpoints(options);
}
