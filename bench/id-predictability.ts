// How well a user's last item predicts the next item's semantic-ID prefix, per ID scheme: a CPU proxy for
// "IDs whose first level the history predicts well" (issue 18), comparable across prepared folders of the same
// data (same split). A code bigram is counted on train transitions only (consecutive train items of a user);
// each validation example ranks the prefixes of level ≤ l by count after its last history item's prefix (ties
// by popularity, then index). Reported: hit@1/@20 of the target's prefix, the same for popularity alone, and the
// prefix's perplexity (how many codes are effectively in use: a scheme with few large buckets is easy to hit).
//
//   node --import tsx bench/id-predictability.ts --prepared=runs/beauty,runs/beauty-plain,runs/beauty-cf1 --out=bench/results/id-predictability-beauty.json
import { writeFileSync } from 'node:fs';
import { loadPrepared } from '../models/data/prepared.ts';
import { heldOutExamples, trainSequences, VALIDATION } from '../models/data/splits.ts';
import { parseOptions } from '../models/options.ts';

const o = parseOptions(process.argv.slice(2), {
  prepared: '', // comma-separated prepared folders of the same dataset
  levels: 2, // prefixes of 1 … levels codes
  out: '', // JSON report ('' = print only)
}, 'bench/id-predictability.ts --prepared=A,B,… [--levels=2] [--out=FILE]');
if (!o) process.exit(0);

interface LevelFigures { prefixes: number; perplexity: number; bigram_hit1: number; bigram_hit20: number; popularity_hit1: number; popularity_hit20: number }

function rankHits(scores: Map<number, number>, popularity: Float64Array, target: number): [boolean, boolean] {
  const st = scores.get(target) ?? 0;
  const pt = popularity[target];
  let better = 0;
  for (let c = 0; c < popularity.length && better < 20; c++) {
    if (c === target) continue;
    const s = scores.get(c) ?? 0;
    if (s > st || (s === st && (popularity[c] > pt || (popularity[c] === pt && c < target)))) better++;
  }
  return [better < 1, better < 20];
}

const report: Record<string, unknown> = {};
for (const dir of o.prepared.split(',').filter(Boolean)) {
  const p = loadPrepared(dir);
  const L = p.levels;
  const train = trainSequences(p, p.split);
  const validation = heldOutExamples(p, p.split, VALIDATION, 1);
  const perLevel: Record<string, LevelFigures> = {};
  for (let l = 1; l <= Math.min(o.levels, L - 1); l++) {
    // Prefix id of item i: its first l codes in base K, renumbered densely.
    const ids = new Map<string, number>();
    const prefix = new Int32Array(p.meta.items);
    for (let i = 0; i < p.meta.items; i++) {
      const key = Array.from(p.codes.subarray(i * L, i * L + l)).join(',');
      if (!ids.has(key)) ids.set(key, ids.size);
      prefix[i] = ids.get(key)!;
    }
    const n = ids.size;
    const popularity = new Float64Array(n);
    const bigram = Array.from({ length: n }, () => new Map<number, number>());
    for (const seq of train) {
      for (let t = 0; t < seq.length; t++) popularity[prefix[seq[t]]]++;
      for (let t = 1; t < seq.length; t++) {
        const m = bigram[prefix[seq[t - 1]]];
        const c = prefix[seq[t]];
        m.set(c, (m.get(c) ?? 0) + 1);
      }
    }
    const total = popularity.reduce((a, b) => a + b, 0);
    const entropy = -popularity.reduce((h, c) => (c > 0 ? h + (c / total) * Math.log(c / total) : h), 0);
    const empty = new Map<number, number>();
    let b1 = 0, b20 = 0, p1 = 0, p20 = 0, users = 0;
    for (const ex of validation) {
      if (ex.history.length === 0) continue;
      users++;
      const target = prefix[ex.targets[0]];
      const [h1, h20] = rankHits(bigram[prefix[ex.history[ex.history.length - 1]]], popularity, target);
      const [q1, q20] = rankHits(empty, popularity, target);
      b1 += +h1; b20 += +h20; p1 += +q1; p20 += +q20;
    }
    const r = (x: number) => Number((x / users).toFixed(4));
    perLevel[`level_${l}`] = { prefixes: n, perplexity: Number(Math.exp(entropy).toFixed(1)), bigram_hit1: r(b1), bigram_hit20: r(b20), popularity_hit1: r(p1), popularity_hit20: r(p20) };
  }
  report[dir] = { users: validation.length, ids: (p.report.embeddings as { content?: unknown })?.content ?? null, ...perLevel };
  console.log(dir, JSON.stringify(perLevel));
}
if (o.out) writeFileSync(o.out, JSON.stringify({ split: 'validation', note: 'code bigram over train transitions; ranks of the validation target\'s ID prefix after the last history item', datasets: report }, null, 1) + '\n');
