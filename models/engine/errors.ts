// Typed errors of the training engine; match them by `name`.

/** Device, adapter or WebGPU validation failure. */
export class EngineError extends Error {
  override name = 'EngineError';
}

/** Training asked of a software adapter (the CPU) without opting in; the message gives the cost and the opt-in. */
export class GpuRequiredError extends Error {
  override name = 'GpuRequiredError';
}

/**
 * Shapes that disagree, in any stage: operands an op cannot combine, logits vs targets, scores vs sessions, reward
 * model inputs. The message names the op or array, the shapes and the fix.
 */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A checkpoint file that is truncated, of another format, or does not match the model. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}
