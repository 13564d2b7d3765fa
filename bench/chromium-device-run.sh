#!/usr/bin/env bash
# On the GPU machine, after bench/chromium-device.sh unpack: bench:recommend's browser part on Chromium's WebGPU
# (the WGSL model in the worker, on the NVIDIA Vulkan driver), beside the same calls in Node (onnxruntime-node's CPU
# EP, 1 and 2 threads, and the WGSL model on Dawn: cpu+wgsl), for the default synthetic Beauty-sized bundle and
# KuaiRand. Writes bench/results/recommend-webgpu-browser.json ({ default, kuairand }: bench/recommend.ts's JSON
# each) and copies it and the log to $OUT when set.
#
#   source .device/setup.sh; bench/chromium-device.sh unpack; bench/chromium-device-run.sh
#
# If Chromium gets no adapter or a fallback (software) one, each run's `browser_webgpu` says what failed (the
# adapter info, the page's console errors, chrome://gpu as text) and the console prints it; the Node rows are
# still written. ONEREC_CHROMIUM_ARGS replaces the Vulkan flags below; RUNS sets the timed calls per configuration;
# BENCH_ARGS are appended to both runs (a later --key wins) and RESULTS moves the output folder: a check on the CPU
# machines runs, e.g., RESULTS=.work BENCH_ARGS='--bundle=.work/tiny-bundle --runs=3' with SwiftShader flags.
set -uo pipefail
root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
cd "$root"
eval "$(bench/chromium-device.sh env)"
# Without a Chromium the runs still time the Node rows; browser_webgpu.failure then says Chromium did not start.
[ -x "$ONEREC_CHROMIUM" ] || echo "chromium-device-run: no Chromium at $ONEREC_CHROMIUM (bench/chromium-device.sh unpack first)" >&2
# Dawn on Vulkan in the GPU process; ANGLE on Vulkan too; no window surface (headless); the NVIDIA driver is not on
# Chromium's allow list for headless Linux, so the blocklist is ignored.
export ONEREC_CHROMIUM_ARGS=${ONEREC_CHROMIUM_ARGS:---enable-features=Vulkan --use-angle=vulkan --use-vulkan=native --disable-vulkan-surface --ignore-gpu-blocklist}
runs=${RUNS:-40}
results=${RESULTS:-bench/results}
log=$results/recommend-webgpu-browser.log
mkdir -p "$results" .work

{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
  echo "chromium: $("$ONEREC_CHROMIUM" --version 2>&1 | head -1); flags: $ONEREC_CHROMIUM_ARGS"
  node --version
} 2>&1 | tee "$log"

status=0
for name in default kuairand; do
  bundle=(); [ "$name" = kuairand ] && bundle=(--bundle=models/bundles/kuairand)
  echo "== $name" | tee -a "$log"
  node --import tsx bench/recommend.ts "${bundle[@]}" --runs="$runs" --nodeEps=cpu,cpu+wgsl --browserDevices=webgpu \
    --chromium="$ONEREC_CHROMIUM" --out=".work/recommend-webgpu-browser-$name.json" ${BENCH_ARGS:-} 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || { status=1; echo "chromium-device-run: the $name run failed (above)" | tee -a "$log"; }
done

node -e '
const fs = require("fs");
const out = {};
for (const name of ["default", "kuairand"]) {
  const file = `.work/recommend-webgpu-browser-${name}.json`;
  out[name] = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : "no result: see recommend-webgpu-browser.log";
}
fs.writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
for (const [name, r] of Object.entries(out)) {
  if (typeof r === "string") { console.log(`${name}: ${r}`); continue; }
  const c = r.configurations, b = r.browser_webgpu;
  const row = (k) => (c[k] ? `${c[k].p50_ms} / ${c[k].p95_ms}` : "-");
  console.log(`${name}: chromium-webgpu p50/p95 ${row("chromium-webgpu")} ms (load ${b.loadMs} ms, first call ${b.firstMs} ms), node-cpu+wgsl ${row("node-cpu+wgsl")}, node-cpu-1thread ${row("node-cpu-1thread")}; adapter ${JSON.stringify(b.adapter && { vendor: b.adapter.vendor, architecture: b.adapter.architecture, description: b.adapter.description, fallback: b.adapter.isFallbackAdapter })}${b.failure ? `; FAILED: ${b.failure}` : ""}`);
}' "$results/recommend-webgpu-browser.json" 2>&1 | tee -a "$log"

if [ -n "${OUT:-}" ]; then cp "$results/recommend-webgpu-browser.json" "$log" "$OUT/"; fi
exit $status
