#!/bin/bash
# What a GPU call carries, under the device tool's 64 MiB (the working tree + the carried paths), and how the call
# starts from it. The working tree is copied as it is, other engineers' half-done edits included, so the code runs
# from a clean snapshot of HEAD instead.
#
#   bash bench/device-snapshot.sh pack beauty toys --ckpt=runs/heldout-onerec/toys-best.ckpt
#       here: .work/snap.tgz (git archive of HEAD's code, without models/bundles and bench/results, ~0.5 MB) and
#       .work/dev.tar.xz (bench/seed-device.sh's slim copies of runs/<name> + the named checkpoints, xz), then the
#       total a call carrying [".device", ".work/snap.tgz", ".work/dev.tar.xz"] would send, against the limit
#   bash bench/device-snapshot.sh enter CMD…
#       on the GPU machine: unpacks both into /tmp/snap (kept while the machine stays warm: a second call may carry
#       nothing but its script), sources .device/setup.sh and runs CMD there; the data is in .work/device/data/<name>,
#       the checkpoints in .work/device/data/ckpt/<file name>
set -u
LIMIT=$((64 * 1024 * 1024))
if [ "${1:-}" = pack ]; then
  shift
  names=(); ckpts=()
  for a in "$@"; do case $a in --ckpt=*) ckpts+=("${a#--ckpt=}") ;; *) names+=("$a") ;; esac; done
  mkdir -p .work
  git archive --format=tar.gz HEAD -- bin models runtime runtime-node worker bench package.json tsconfig.json \
    ':(exclude)models/bundles' ':(exclude)bench/results' > .work/snap.tgz || exit 1
  if [ ${#names[@]} -gt 0 ]; then bash bench/seed-device.sh pack "${names[@]}" >/dev/null || exit 1; else rm -rf .work/device/data && mkdir -p .work/device/data; fi
  if [ ${#ckpts[@]} -gt 0 ]; then mkdir -p .work/device/data/ckpt && cp "${ckpts[@]}" .work/device/data/ckpt/ || exit 1; fi
  tar cJf .work/dev.tar.xz -C .work device || exit 1
  # the device tool counts the tree's files and the carried paths by their disk blocks
  tree=$(git ls-files -co --exclude-standard -z | du -c --block-size=1 --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  carried=$(du -s --block-size=1 .device .work/snap.tgz .work/dev.tar.xz | awk '{ n += $1 } END { print n }')
  total=$((tree + carried))
  awk -v t=$tree -v c=$carried -v l=$LIMIT 'BEGIN { printf "tree %.1f MB + carried %.1f MB = %.1f MB of %.1f MB\n", t / 1e6, c / 1e6, (t + c) / 1e6, l / 1e6 }'
  [ $total -le $LIMIT ] || { echo "over the limit: pack fewer datasets or checkpoints, or carry them in a second call to the warm machine" >&2; exit 1; }
  exit 0
fi
[ "${1:-}" = enter ] || { echo "usage: $0 pack NAME… [--ckpt=PATH…] | enter CMD…" >&2; exit 2; }
shift
if [ ! -d /tmp/snap/.device ]; then
  mkdir -p /tmp/snap/.work && tar xzf .work/snap.tgz -C /tmp/snap && cp -r .device /tmp/snap/ || exit 1
fi
if [ -f .work/dev.tar.xz ]; then rm -rf /tmp/snap/.work/device && tar xJf .work/dev.tar.xz -C /tmp/snap/.work/ || exit 1; fi
cd /tmp/snap && source .device/setup.sh >/dev/null 2>&1
node bench/fill-unread-arrays.mjs .work/device/data/*/   # loadPrepared checks every array's size; the unread ones travel as nothing
"$@"
