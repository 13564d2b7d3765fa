// The k-means inner loops, in plain JavaScript so that worker threads (which do not inherit the CLI's TypeScript
// loader) run the very same code as the calling thread: a row's result does not depend on which thread computed it,
// so assignments are identical for any thread count (kmeans.ts, parallel.ts).

/** ‖c‖² of each centroid, summed in float64: [clusters]. */
export function centroidNorms(centroids, k, dim, out = new Float64Array(k)) {
  for (let c = 0; c < k; c++) out[c] = squaredNorm(centroids, c * dim, dim);
  return out;
}

/** ‖x‖² of the row at offset p, summed in float64. */
function squaredNorm(points, p, dim) {
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
 * nearestRows with Hamerly's bounds, for Lloyd's passes after the first: upper[i] ≥ the distance (not squared) to
 * the assigned centroid, lower[i] ≤ the distance to every other centroid. Before the pass they are loosened by how
 * far the centroids moved (the assigned one's move, the largest move); a point whose bounds still separate, with
 * slack, keeps its centroid without computing a distance. absoluteSlack covers the cancellation in ‖p‖² − 2p·c + ‖c‖²
 * near zero distance (the caller passes 1e-6 × (1 + the largest ‖p‖)). Every other point takes the full scan of nearestRows, so
 * the assignment is the one nearestRows gives. assignment[i] < 0 means no bounds yet (first pass).
 */
export function nearestRowsBounded(points, dim, centroids, norms, k, from, to, assignment, upper, lower, moved, maxMoved, absoluteSlack) {
  for (let i = from; i < to; i++) {
    const a = assignment[i];
    if (a >= 0) {
      const u = upper[i] + moved[a];
      const l = lower[i] - maxMoved;
      upper[i] = u;
      lower[i] = l;
      if (u * (1 + BOUND_SLACK) + absoluteSlack < l * (1 - BOUND_SLACK)) continue;
    }
    const p = i * dim;
    const pointNorm = squaredNorm(points, p, dim);
    let best = 0;
    let bestDistance = 0;
    let second = Infinity;
    for (let c = 0; c < k; c++) {
      const distance = Math.fround(squaredDistance(points, p, pointNorm, centroids, c * dim, norms[c], dim));
      if (c === 0 || distance < bestDistance) {
        if (c > 0) second = bestDistance;
        bestDistance = distance;
        best = c;
      } else if (distance < second) second = distance;
    }
    assignment[i] = best;
    upper[i] = Math.sqrt(bestDistance);
    lower[i] = Math.sqrt(second);
  }
}
