#!/bin/bash
# The KuaiRand alignment sweep on the H200 (the `run` tool; carry [".device", "runs/kuairand"] — the output of
# onerec prepare on KuaiRand-Pure, 23 MB —, the device pack of ../shared/tools/device-pack.sh webgpu tsx cli-progress):
#
#   bash bench/align-device.sh BUDGET_SECONDS "NAME FLAGS" "NAME FLAGS" …
#
# 1. trains one seed model and the reward model on the training period (days before the validation day);
# 2. runs each alignment setting in its own process from that seed (same reward model: the engine is deterministic);
# 3. merges their reports: the setting and iteration are picked on the validation users only (onerec align --merge).
# $OUT gets kuairand-align.json (the merged report), logs.tar.gz and align-ckpts.tar.gz.NN (seed, reward and every
# setting's aligned-<t>.ckpt; cat align-ckpts.tar.gz.* | tar xz).
set -u
budget=$1; shift
source .device/setup.sh >/dev/null 2>&1
W=/tmp/align; mkdir -p $W
A="node bin/onerec.mjs align --prepared=runs/kuairand --rmTrainer=engine --userFraction=0.05 --sessions=16 --alignBatch=64 --evalUsers=${EVAL_USERS:-1500} --usersPerBatch=128 --valDays=1"
t0=$(date +%s)
$A --iterations=0 --seedEpochs=2 --seedBatch=256 --seedMaxExamples=250000 --seedSeconds=60 --out=$W/seed > $W/seed.log 2>&1 || { tail -30 $W/seed.log; exit 1; }
echo "seed phase: $(( $(date +%s) - t0 )) s"; grep -E "^seed|held-out|kuairand:" $W/seed.log
reports=()
for spec in "$@"; do
  read -r name rest <<< "$spec"
  reports+=("$W/$name/report.json")
  (ONEREC_PROGRESS=1 $A --seedCheckpoint=$W/seed/seed.ckpt --iterations=3 --budgetSeconds=$budget $rest --out=$W/$name > $W/$name.log 2>&1; echo "exit $?" >> $W/$name.log) &
done
wait
echo "settings phase done: $(( $(date +%s) - t0 )) s"
for spec in "$@"; do read -r name rest <<< "$spec"; echo "== $name $rest"; grep -E "^\[lr|budget|exit" $W/$name.log; done
node bin/onerec.mjs align --merge=$(IFS=,; echo "${reports[*]}") --report=$OUT/kuairand-align.json > $W/merge.log 2>&1; tail -12 $W/merge.log
(cd $W && tar czf $OUT/logs.tar.gz *.log */report.json)
(cd $W && tar czf - seed/seed.ckpt seed/reward.ckpt */aligned-*.ckpt | split -b 15000000 -d - $OUT/align-ckpts.tar.gz.)
ls -la $OUT
