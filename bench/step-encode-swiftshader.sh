#!/usr/bin/env bash
# The CPU time to encode one seed-model training step (issue 19), the previous commit's engine against this
# tree's, alternated in one run: bench/seed-step.ts's "CPU encode ms/step" (from a step's start until endStep()'s
# submit returns, the GPU not waited for) on the default config at a small batch so that a software adapter
# finishes. Writes bench/results/step-encode-swiftshader.json.
#   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium \
#     bash bench/step-encode-swiftshader.sh [BASE_COMMIT (default HEAD~1)] [ROUNDS (default 2)]
set -euo pipefail
base=${1:-HEAD~1}; rounds=${2:-2}
old=$(mktemp -d); trap 'rm -rf "$old"' EXIT
git archive "$base" | tar -x -C "$old"; ln -s "$PWD/node_modules" "$old/node_modules"
args=(--rows=default:8:2 --torch=false --profile= --steps=4 --window=2 --warmup=1)
for r in $(seq 1 "$rounds"); do
  (cd "$old" && node --import tsx bench/seed-step.ts "${args[@]}" --out="$old/old-$r.json") >&2
  node --import tsx bench/seed-step.ts "${args[@]}" --out="$old/new-$r.json" >&2
done
node -e '
const fs = require("fs"); const [dir, rounds, base, head] = process.argv.slice(1);
const read = (w) => Array.from({ length: +rounds }, (_, i) => JSON.parse(fs.readFileSync(`${dir}/${w}-${i + 1}.json`)).rows[0]);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const side = (w, commit) => { const r = read(w); const e = r.map((x) => x.engine.encode_ms_per_step);
  return { commit, encode_ms_per_step_median: median(e), encode_ms_per_step_runs: e, dispatches_per_step: r[0].engine.dispatches_per_step, copies_per_step: r[0].engine.copies_per_step }; };
const out = { row: "default:8:2", adapter: "SwiftShader (software Vulkan), 2 shared CPU cores", before: side("old", base), after: side("new", head + " + working tree") };
fs.writeFileSync("bench/results/step-encode-swiftshader.json", JSON.stringify(out, null, 2) + "\n"); console.log(JSON.stringify(out, null, 2));
' "$old" "$rounds" "$(git rev-parse "$base")" "$(git rev-parse HEAD)"
