#!/bin/bash
# The seed model's runs on the H200 (the `run` tool), several `onerec train` processes at once (or, with
# VERB=baseline, several `onerec baseline` SASRec runs: they read the same slim copies).
#
#   bash bench/seed-device.sh pack beauty beauty-plain beauty-text     # here: slim copies of runs/<name> → .work/device/data
#   # then run, carrying [".device", ".work/device"] (the device pack: ../shared/tools/device-pack.sh webgpu tsx cli-progress):
#   bash bench/seed-device.sh run 4.3 "main --data=beauty --lr=2e-3" "dense --data=beauty --experts=1 --expertsPerToken=1 --expertFfnDim=512"
#
# `run MINUTES SPEC…`: each SPEC is "NAME --data=PREPARED_NAME [train flags]"; every process trains for at most
# MINUTES, then evaluates the full test split (unless the SPEC says --noTest). A run longer than one call: W=.work/seed-w
# COMMON="--resume" (run folders stay on the machine while it is warm; the next call continues from last.ckpt). Seven processes at once saturate the
# GPU (each ~7× slower); three run at full speed. $OUT gets NAME-best.ckpt per spec and seed-runs.tar.gz (reports, logs).
set -u
D=.work/device/data
if [ "$1" = pack ]; then
  shift
  rm -rf "$D" && mkdir -p "$D"
  base=$1
  for name in "$@"; do
    mkdir -p "$D/$name"
    for f in runs/$name/*; do
      b=$(basename "$f")
      [ -f "$f" ] || continue
      case $b in
        embeddings.f32|rows-time-ms.f64|rows-day.i32|sessions-*|signal-*) ;;   # unread by the seed model: recreated as sparse files there
        codes.u16|semantic-ids.bin|prepared.json|report.json) cp "$f" "$D/$name/" ;;
        *) if [ "$name" != "$base" ] && cmp -s "$f" "runs/$base/$b"; then ln -s "../$base/$b" "$D/$name/$b"; else cp "$f" "$D/$name/"; fi ;;
      esac
    done
  done
  du -sh "$D"; exit 0
fi
[ "$1" = run ] || { echo "usage: $0 pack NAME… | run MINUTES SPEC…"; exit 2; }
minutes=$2; shift 2
source .device/setup.sh >/dev/null 2>&1
node bench/fill-unread-arrays.mjs $D/*/   # loadPrepared checks every array's size; the unread ones travel as nothing
W=${W:-/tmp/seed}; mkdir -p $W   # W=.work/seed-w keeps run folders on a warm machine for the next call's --resume
VERB=${VERB:-train}
if [ -n "${COMMON+x}" ]; then COMMON="$COMMON --maxMinutes=$minutes"   # COMMON="" in the environment: the CLI defaults
elif [ "$VERB" = train ]; then COMMON="--epochs=${EPOCHS:-12} --batchSize=256 --warmupSteps=300 --evalEvery=3 --evalUsers=1000 --maxMinutes=$minutes"
else COMMON="--maxMinutes=$minutes"; fi
names=()
for spec in "$@"; do
  read -r name rest <<< "$spec"
  names+=("$name")
  args=$(echo "$rest" | sed "s|--data=\([^ ]*\)|--data=$D/\1|")
  (ONEREC_PROGRESS=1 timeout $(( ${minutes%.*} * 60 + 300 )) node bin/onerec.mjs $VERB $COMMON --out $W/$name $args > $W/$name.log 2>&1; echo "exit $?" >> $W/$name.log) &
done
sleep 5; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
for name in "${names[@]}"; do echo "$name $(grep -h '^test:' $W/$name.log)"; done
if [ "$VERB" = baseline ]; then
  # SASRec checkpoints are small: all of them come back in one archive, in 15 MB parts (at most 8 files come back):
  # cat baseline-runs.tar.gz.* | tar xz
  (cd $W && tar czf - *.log */report.json */history.json */best.ckpt 2>/dev/null) | split -b 15000000 -d - $OUT/baseline-runs.tar.gz.
  ls -la $OUT; exit 0
fi
# Every spec's best checkpoint comes back; one over 15 MB (the per-file limit is 16 MiB) in parts: cat NAME-best.ckpt.* > NAME-best.ckpt
for name in "${names[@]}"; do
  f=$W/$name/best.ckpt; [ -f "$f" ] || continue
  if [ $(stat -c %s "$f") -gt 15000000 ]; then split -b 15000000 -d "$f" $OUT/$name-best.ckpt.; else cp "$f" $OUT/$name-best.ckpt; fi
done
(cd $W && tar czf $OUT/seed-runs.tar.gz *.log */report.json */history.json */report.html 2>/dev/null)
ls -la $OUT
