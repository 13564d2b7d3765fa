// Seeded pseudo-random numbers: the one generator of the offline pipeline (mulberry32: one 32-bit state, so a
// checkpoint can store it and a resumed run continues the same stream). Every random choice — data splits,
// k-means, parameter init, dropout seeds, shuffling, test inputs — goes through it, so a run is reproducible from
// its seed.
//
// Two seedings exist because prepared data and trained models already depend on both streams:
//   new Rng(seed)       state = seed: the engine, training, alignment, the reference model's init (seededUniform)
//   seededRandom(seed)  state = seed ^ 0x9e3779b9: the data stage (PCA, k-means, embedding alignment, prepare)
// Changing either changes the shipped bundles' semantic IDs or weights; tests/models/random.test.ts pins both.

export class Rng {
  state: number; // u32, the whole generator: save it to continue the stream

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform u32. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box–Muller, two uniforms per value). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fisher–Yates shuffle in place; returns `array`. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }
}

/** The generator as the data stage uses it. */
export type Random = Rng;

/** The data stage's stream: the seed mixed with 0x9e3779b9 (the golden ratio's bits) before it becomes the state. */
export function seededRandom(seed: number): Random {
  return new Rng((seed >>> 0) ^ 0x9e3779b9);
}

/** `new Rng(seed).next` as a function: uniform in [0, 1). */
export function seededUniform(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
