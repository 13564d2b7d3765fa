// Typed errors of the semantic-ID stage; match them by `name`.

/** A k-means device request that cannot be served (no GPU adapter, or balanced k-means asked of the GPU); the message says what to do. */
export class KMeansDeviceError extends Error {
  override name = 'KMeansDeviceError';
}
