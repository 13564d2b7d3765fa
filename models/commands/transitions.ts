// onerec transitions — give an exported bundle its transition prior (runtime/transitions.ts), or refit it, without
// re-exporting the graphs: λ, η fitted on the prepared data's validation split with the training split's table, and
// transitions.bin counted through the validation split (--transitionsThrough), as `onerec export` does by default. For bundles exported before the prior existed, or with --transitions=none.
//
//   onerec transitions --bundle models/bundles/beauty --data runs/beauty-plain
//   onerec transitions --bundle runs/toys/bundle --data runs/toys --transitions=1     # a given λ, no fit
//   onerec transitions --bundle runs/toys/refit --data runs/toys --transitions=1 --transitionsHistory=-4   # a refit's bundle: λ, η given
import { loadPrepared } from '../data/prepared.ts';
import { OptionError, parseOptions } from '../options.ts';
import { addTransitions, checkTransitionsCandidates, checkTransitionsHistory, checkTransitionsThrough, parseTransitionsOption } from '../export/export-checkpoints.ts';

export const summary = 'add or refit a bundle\'s transition prior (transitions.bin, manifest.transitions) from the prepared data';

export const DEFAULT_TRANSITIONS_OPTIONS = {
  bundle: '', // the bundle folder (its manifest.json), changed in place
  data: '', // the prepared data the bundle was exported from (its item order and codes)
  transitions: 'fit', // 'fit' (λ and η on the validation split) or λ (η 0)
  transitionsUsers: 4000, // validation users whose candidates the fit reranks (0 = all)
  transitionsCandidates: 10, // sessions of one item: the table's top items added to the beam's, scored by the model (0: the prior only reorders the beam)
  transitionsThrough: 'validation', // the shipped table counts transitions through this split: 'validation' (all but test's) or 'train' (λ, η are always fitted with the training split's)
  transitionsHistory: 0, // η with a fixed --transitions=λ (the fit chooses its own): added per session item the user already has
};

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_TRANSITIONS_OPTIONS, `onerec transitions --bundle DIR --data PREPARED [--transitions=fit|λ]\n${summary}`, { required: ['bundle', 'data'] });
  if (!o) return;
  const transitions = parseTransitionsOption(o.transitions);
  checkTransitionsCandidates(o.transitionsCandidates);
  checkTransitionsThrough(o.transitionsThrough);
  checkTransitionsHistory(o.transitionsHistory, transitions);
  if (transitions === 'none') throw new OptionError('--transitions=none: to drop the prior, re-export with --transitions=none; this command adds or refits it');
  await addTransitions(o.bundle, loadPrepared(o.data), transitions, o.transitionsUsers, o.transitionsCandidates, o.transitionsThrough, o.transitionsHistory);
}
