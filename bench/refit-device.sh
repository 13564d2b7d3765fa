#!/bin/bash
# The refits through the validation split on the GPU machine (bench/README.md, "Next on the GPU", item 4): the seed
# network and SASRec trained on every target but the test split's, for the best epochs of their runs on the training
# split. Runs inside bench/device-snapshot.sh's snapshot, several processes at once on one GPU:
#
#   bash bench/device-snapshot.sh pack beauty toys sports          # here, after onerec prepare of each (the CLI's defaults)
#   # one `run` call, carrying [".device", ".work/snap.tgz", ".work/dev.tar.xz"], then a second within 30 s:
#   PHASE=1 bash bench/device-snapshot.sh enter bash bench/refit-device.sh
#   PHASE=2 bash bench/device-snapshot.sh enter bash bench/refit-device.sh     # --resume; copies the checkpoints back
#
# The processes start here directly: seed-device.sh sources .device/setup.sh, which would unpack node_modules again
# under the running processes. A run that has finished is not started again (no second test look).
set -u
W=/tmp/snap/.work/refit-w; mkdir -p $W
D=.work/device/data
MIN=${MIN:-8}
RES=""; [ "${PHASE:-1}" = 2 ] && RES="--resume"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
start() {
  name=$1; verb=$2; shift 2
  grep -qE "^stopped: (reached|no better)|^test:" $W/$name.log 2>/dev/null && { echo "$name: done before"; return; }
  (ONEREC_PROGRESS=1 node bin/onerec.mjs $verb --out $W/$name "$@" >> $W/$name.log 2>&1; echo "exit $?" >> $W/$name.log) &
}
# epochs: each set's best epoch of the default recipe / of onerec baseline on the training split (bench/README.md #18)
start beauty train --data=$D/beauty --trainThrough=validation --epochs=30 --noTest --maxMinutes=$MIN $RES
start toys train --data=$D/toys --trainThrough=validation --epochs=20 --noTest --maxMinutes=$MIN $RES
start sports train --data=$D/sports --trainThrough=validation --epochs=30 --noTest --maxMinutes=$MIN $RES
start sasrec-beauty baseline --data=$D/beauty --trainThrough=validation --epochs=41 --maxMinutes=$MIN $RES
start sasrec-toys baseline --data=$D/toys --trainThrough=validation --epochs=57 --maxMinutes=$MIN $RES
start sasrec-sports baseline --data=$D/sports --trainThrough=validation --epochs=47 --maxMinutes=$MIN $RES
sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait
for n in beauty toys sports sasrec-beauty sasrec-toys sasrec-sports; do echo "== $n"; grep -E "^epoch|^stopped|^test|^exit|Error" $W/$n.log | tail -3; done
(cd $W && tar czf $OUT/refit-runs.tar.gz *.log */report.json */history.json 2>/dev/null)
for n in beauty toys sports; do grep -q "^stopped: reached" $W/$n.log 2>/dev/null && cp $W/$n/best.ckpt $OUT/refit-$n-best.ckpt; done
ls -la $OUT
