// Shared by the reward trainer's tests: a random training example, and the check of the hand-written backward
// against central finite differences (float64, step 1e-6).
import assert from 'node:assert/strict';
import type { RewardConfig } from '../../../models/reward/config.ts';
import type { Rng } from '../../../models/random.ts';
import type { RewardExample } from '../../../models/reward/trainer.ts';

/** A history of 1–6 items (sometimes longer than maxHistory), a session whose later slots are sometimes empty (-1), random labels. */
export function randomExample(rng: Rng, c: RewardConfig): RewardExample {
  return {
    history: Int32Array.from({ length: 1 + rng.int(6) }, () => rng.int(c.itemCount)),
    items: Int32Array.from({ length: c.sessionLength }, (_, i) => (i > 0 && rng.next() < 0.3 ? -1 : rng.int(c.itemCount))),
    labels: Uint8Array.from(c.towers, () => rng.int(2)),
  };
}

/**
 * Compares grads[name][i] with (loss(p + h) − loss(p − h)) / 2h at every `stride(name, length)`-th entry of each
 * parameter, within 1e-6 · max(1, |numeric|); returns how many entries were checked.
 */
export function assertCentralDifferences(params: Record<string, Float64Array>, grads: Record<string, Float64Array>, loss: () => number, stride: (name: string, length: number) => number): number {
  const h = 1e-6;
  let checked = 0;
  for (const [name, p] of Object.entries(params)) {
    for (let i = 0; i < p.length; i += stride(name, p.length)) {
      const keep = p[i];
      p[i] = keep + h;
      const up = loss();
      p[i] = keep - h;
      const down = loss();
      p[i] = keep;
      const numeric = (up - down) / (2 * h);
      const analytic = grads[name][i];
      assert.ok(Math.abs(numeric - analytic) < 1e-6 * Math.max(1, Math.abs(numeric)), `${name}[${i}]: numeric ${numeric}, analytic ${analytic}`);
      checked++;
    }
  }
  return checked;
}
