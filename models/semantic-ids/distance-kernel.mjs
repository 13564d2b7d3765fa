// The k-means inner loops, in plain JavaScript so that worker threads (which do not inherit the CLI's TypeScript
// loader) run the very same code as the calling thread: a row's result does not depend on which thread computed it,
// so assignments are identical for any thread count (kmeans.ts, parallel.ts).

/** ‖c‖² of each centroid, summed in float64: [clusters]. */
export function centroidNorms(centroids, k, dim, out = new Float64Array(k)) {
  for (let c = 0; c < k; c++) out[c] = squaredNorm(centroids, c * dim, dim);
  return out;
}

/** ‖x‖² of the row at offset p, summed in float64. */
export function squaredNorm(points, p, dim) {
  let s = 0;
  for (let d = 0; d < dim; d++) s += points[p + d] * points[p + d];
  return s;
}

/** ‖p − c‖² = ‖p‖² − 2 p·c + ‖c‖² for the point at offset p and the centroid at offset q, clamped at 0; the one
 * distance every pass below computes (four partial dot products, in this order, so every caller rounds alike). */
function squaredDistance(points, p, pointNorm, centroids, q, centroidNorm, dim) {
  let dot0 = 0, dot1 = 0, dot2 = 0, dot3 = 0;
  let d = 0;
  for (; d + 3 < dim; d += 4) {
    dot0 += points[p + d] * centroids[q + d];
    dot1 += points[p + d + 1] * centroids[q + d + 1];
    dot2 += points[p + d + 2] * centroids[q + d + 2];
    dot3 += points[p + d + 3] * centroids[q + d + 3];
  }
  for (; d < dim; d++) dot0 += points[p + d] * centroids[q + d];
  const v = pointNorm - 2 * (dot0 + dot1 + dot2 + dot3) + centroidNorm;
  return v > 0 ? v : 0;
}

/** ‖p − c‖² as ‖p‖² − 2 p·c + ‖c‖² (clamped at 0, stored as float32) for points [from, to) into out [points, clusters]. */
export function squaredDistanceRows(points, dim, centroids, norms, k, from, to, out) {
  for (let i = from; i < to; i++) {
    const p = i * dim;
    const pointNorm = squaredNorm(points, p, dim);
    for (let c = 0; c < k; c++) {
      out[i * k + c] = squaredDistance(points, p, pointNorm, centroids, c * dim, norms[c], dim);
    }
  }
}

/**
 * Nearest centroid of points [from, to) into assignment: the same float32-rounded distances as squaredDistanceRows,
 * ties to the lower centroid index, without the [points, clusters] matrix.
 */
export function nearestRows(points, dim, centroids, norms, k, from, to, assignment) {
  for (let i = from; i < to; i++) {
    const p = i * dim;
    const pointNorm = squaredNorm(points, p, dim);
    let best = 0;
    let bestDistance = 0;
    for (let c = 0; c < k; c++) {
      const distance = Math.fround(squaredDistance(points, p, pointNorm, centroids, c * dim, norms[c], dim));
      if (c === 0 || distance < bestDistance) {
        bestDistance = distance;
        best = c;
      }
    }
    assignment[i] = best;
  }
}

/** Relative slack of the bound test below: far above the rounding error of the distances (~1e-7), so a point is
 * skipped only when its nearest centroid is certain under the kernel's own float32-rounded distances too. */
const BOUND_SLACK = 1e-4;

/**
 * nearestRows with Elkan's bounds, for Lloyd's passes after the first: upper[i] ≥ the distance (not squared) to the
 * assigned centroid, lower[i·k + c] ≤ the distance to centroid c (float32: the slack below is ~1,000 times their
 * rounding). Before the pass they are loosened by how far each centroid moved. A point keeps its centroid without a
 * distance when, with slack, its upper bound is below half[a] (half the distance from its centroid to the nearest
 * other one: no other centroid can be nearer, Hamerly's test) or below every lower bound; failing that, the upper
 * bound is tightened to the distance to its own centroid, and only the centroids whose lower bound does not clear
 * it get a distance. A skipped centroid is farther than the assigned one by more than the slack, so the nearest of
 * those computed, ties to the lower index, is the one nearestRows gives. absoluteSlack covers the cancellation in
 * ‖p‖² − 2p·c + ‖c‖² near zero distance (the caller passes 1e-6 × (1 + the largest ‖p‖)). assignment[i] < 0 means
 * no bounds yet (first pass: every distance).
 */
export function nearestRowsBounded(points, dim, centroids, norms, k, from, to, assignment, upper, lower, moved, maxMoved, absoluteSlack, half) {
  const low = 1 - BOUND_SLACK;
  const high = 1 + BOUND_SLACK;
  for (let i = from; i < to; i++) {
    const a = assignment[i];
    const p = i * dim;
    const row = i * k;
    if (a < 0) {
      const pointNorm = squaredNorm(points, p, dim);
      let best = 0;
      let bestDistance = 0;
      for (let c = 0; c < k; c++) {
        const distance = Math.fround(squaredDistance(points, p, pointNorm, centroids, c * dim, norms[c], dim));
        lower[row + c] = Math.sqrt(distance);
        if (c === 0 || distance < bestDistance) {
          bestDistance = distance;
          best = c;
        }
      }
      assignment[i] = best;
      upper[i] = Math.sqrt(bestDistance);
      continue;
    }
    let u = upper[i] + moved[a];
    let smallest = Infinity; // the smallest lower bound of another centroid
    for (let c = 0; c < k; c++) {
      if (c === a) continue;
      const l = lower[row + c] - moved[c];
      lower[row + c] = l;
      if (l < smallest) smallest = l;
    }
    upper[i] = u;
    const bound = half[a] > smallest ? half[a] : smallest;
    if (u * high + absoluteSlack < bound * low) continue;
    const pointNorm = squaredNorm(points, p, dim);
    const ownDistance = Math.fround(squaredDistance(points, p, pointNorm, centroids, a * dim, norms[a], dim));
    u = Math.sqrt(ownDistance);
    upper[i] = u;
    lower[row + a] = u;
    if (u * high + absoluteSlack < bound * low) continue;
    let best = a;
    let bestDistance = ownDistance;
    for (let c = 0; c < k; c++) {
      if (c === a || u * high + absoluteSlack < lower[row + c] * low) continue;
      const distance = Math.fround(squaredDistance(points, p, pointNorm, centroids, c * dim, norms[c], dim));
      lower[row + c] = Math.sqrt(distance);
      if (distance < bestDistance || (distance === bestDistance && c < best)) {
        bestDistance = distance;
        best = c;
      }
    }
    assignment[i] = best;
    upper[i] = Math.sqrt(bestDistance);
  }
}
