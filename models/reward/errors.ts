// Errors of the reward model and alignment stages: one class per failure, `name` set, the message names the
// bad value and the fix. Matched by `name` across process/worker boundaries, not by `instanceof`.

/** A session, label or tower definition that cannot be used (wrong length, unknown tower, empty set). */
export class RewardDataError extends Error {
  override name = 'RewardDataError';
}

/** Arrays whose shapes disagree (logits vs targets, scores vs sessions, reward model inputs). */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A reward model checkpoint or config that does not match what the code expects. */
export class RewardCheckpointError extends Error {
  override name = 'RewardCheckpointError';
}
