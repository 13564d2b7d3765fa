// Typed errors of the training engine; match them by `name`.

/** Device, adapter or WebGPU validation failure. */
export class EngineError extends Error {
  override name = 'EngineError';
}

/** Operand shapes that an op cannot combine; the message names the op, the shapes and the fix. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A checkpoint file that is truncated, of another format, or does not match the model. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}
