// Errors of the reward model and alignment stages: one class per failure, `name` set, the message names the
// bad value and the fix. Matched by `name` across process/worker boundaries, not by `instanceof`. Arrays whose shapes
// disagree throw the engine's ShapeError (models/engine/errors.ts), as every stage does.

/** A session, label or tower definition that cannot be used (wrong length, unknown tower, empty set). */
export class RewardDataError extends Error {
  override name = 'RewardDataError';
}

/** A reward model checkpoint or config that does not match what the code expects. */
export class RewardCheckpointError extends Error {
  override name = 'RewardCheckpointError';
}
