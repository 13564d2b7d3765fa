#!/usr/bin/env bash
# Debian's Chromium, with the libraries it needs, carried to the GPU machine in parts (#23 item 4: bench:recommend's
# browser part on WebGPU there). That machine has no registry and no internet, and one call carries at most 64 MiB
# with the working tree, so the browser goes in parts of <= 45 MB over back-to-back calls (a warm machine keeps /tmp).
#
#   bench/chromium-device.sh pack          # here: .work/chromium/chromium.tar.xz.part-NN (+ sizes in parts.txt)
#   bench/chromium-device.sh receive N     # there, once per call: part N (carried in that call) -> /tmp/chromium-parts
#   bench/chromium-device.sh unpack        # there, after the last part: -> /tmp/chromium-root, prints the environment
#   bench/chromium-device.sh env           # prints the environment again (eval "$(bench/chromium-device.sh env)")
#
# The tarball holds two folders: chromium/ (a prefix tree: usr/lib/chromium/chromium and the Debian libraries
# beside it) and node_modules/ (the npm packages bench/recommend.ts needs beyond .device/'s: playwright-core,
# onnxruntime-node/-web/-common, comlink, idb, protobufjs), which unpack copies into the project's node_modules/.
# Start a device command with `source .device/setup.sh` (node, webgpu, tsx, esbuild, the Vulkan loader).
set -euo pipefail
root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
cd "$root"
work=.work/chromium                               # here: downloads, the staging tree and the parts (git-ignored)
parts_dir=${CHROMIUM_PARTS_DIR:-/tmp/chromium-parts}  # there: parts received so far (persists while the machine is warm)
prefix=${CHROMIUM_ROOT:-/tmp/chromium-root}        # there: where the tarball is extracted
part_bytes=45000000                                # per part: a call also carries the ~16 MB tree (64 MiB in all)

# Packages of the closure not carried, and why. Every Debian/Ubuntu base has them, and the first group must come
# from the host: a second libc (or libstdc++ older than the host's) on LD_LIBRARY_PATH breaks the host's loader and
# the NVIDIA driver libraries that Chromium's GPU process loads. The rest are the base's tools and services
# (package manager, shell utilities, init, D-Bus daemons, PAM): Chromium links none of their files.
# Also left out, by size: Mesa's DRI/Gallium drivers (libgl1-mesa-dri with libllvm15 and libz3-4, ~150 MB
# installed): WebGPU there goes Dawn -> Vulkan -> the NVIDIA ICD, and here Chromium's own SwiftShader; icon and
# sound themes; the desktop helper scripts (xdg-utils, x11-utils).
EXCLUDE=(
  libc6 libgcc-s1 gcc-12-base libstdc++6 libcrypt1
  tar dpkg debconf usrmerge init-system-helpers sysvinit-utils lsb-base mount passwd adduser procps libproc2-0
  perl perl-base perl-modules-5.36 libperl5.36 libgdbm6 libgdbm-compat4 libdb5.3
  libnumber-compare-perl libtext-glob-perl libfile-find-rule-perl
  libpam0g libpam-modules libpam-modules-bin libpam-runtime libpam-systemd libaudit1 libaudit-common libcap-ng0
  libsemanage2 libsemanage-common libsepol2 libsmartcols1 libfdisk1 dmsetup libdevmapper1.02.1 libcryptsetup12
  libargon2-1 libjson-c5 libkmod2 libip4tc2 libapparmor1 libseccomp2
  systemd systemd-sysv libsystemd-shared dbus dbus-bin dbus-daemon dbus-session-bus-common dbus-system-bus-common
  dbus-user-session dconf-service
  libgl1-mesa-dri libllvm15 libz3-4
  adwaita-icon-theme hicolor-icon-theme gtk-update-icon-cache shared-mime-info xdg-utils x11-utils
)

# The npm packages the bench needs on the device beyond .device/ (node, webgpu, tsx, esbuild), with their
# dependency closure from the local node_modules.
NPM_PACKAGES=(playwright-core onnxruntime-node onnxruntime-web onnxruntime-common comlink idb protobufjs)

pack() {
  command -v apt-get >/dev/null || { echo "chromium-device: pack needs apt-get (Debian/Ubuntu)" >&2; exit 2; }
  mkdir -p "$work/debs"
  rm -rf "$work/stage" "$work"/chromium.tar.xz.part-*
  # The closure apt would install on an empty system (first alternative of each "a | b", no recommends), minus EXCLUDE.
  apt-get -s -o Dir::State::status=/dev/null install --no-install-recommends chromium 2>/dev/null \
    | awk '/^Inst /{print $2}' > "$work/closure.txt"
  [ -s "$work/closure.txt" ] || { echo "chromium-device: apt-get found no closure for chromium (apt-get update?)" >&2; exit 2; }
  printf '%s\n' "${EXCLUDE[@]}" | sort > "$work/excluded.txt"
  sort "$work/closure.txt" | comm -23 - "$work/excluded.txt" > "$work/packages.txt"
  echo "chromium-device: $(wc -l < "$work/closure.txt") packages in the closure, $(wc -l < "$work/packages.txt") carried"
  (cd "$work/debs" && xargs -a ../packages.txt apt-get download -q 2>&1 | grep -v -e '^Get:' -e 'unsandboxed as root' || true)
  mkdir -p "$work/stage/chromium"
  while read -r pkg; do
    deb=$(ls "$work/debs/${pkg}"_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || { echo "chromium-device: no .deb downloaded for $pkg" >&2; exit 2; }
    dpkg-deb -x "$deb" "$work/stage/chromium"
  done < "$work/packages.txt"

  # Strip what headless WebGPU does not read: docs, man pages, translations, UI locales but en-US (Chromium needs
  # one), the mock ICD and the validation layer. Kept: libvulkan.so.1, libvk_swiftshader.so + its ICD json, ANGLE
  # (libEGL.so, libGLESv2.so), icudtl.dat, the .pak resources and the V8 snapshots.
  local c=$work/stage/chromium
  rm -rf "$c"/usr/share/{doc,man,info,locale,lintian,bug,menu,icons,applications,appdata,metainfo,gtk-doc,help,pixmaps,sounds,themes,bash-completion,zsh}
  rm -rf "$c"/etc/{cron.daily,init.d,logrotate.d}
  find "$c/usr/lib/chromium/locales" -type f ! -name 'en-US.pak' -delete
  rm -f "$c"/usr/lib/chromium/libVkICD_mock_icd.so "$c"/usr/lib/chromium/libVkLayer_khronos_validation.so
  # /usr/bin/chromium is a shell wrapper that reads /etc/chromium.d; the bench runs the binary itself.
  rm -f "$c"/usr/bin/chromium

  # npm packages: the closure over dependencies, minus what .device/ carries; linux-x64 binaries only.
  node - "${NPM_PACKAGES[@]}" > "$work/npm-closure.txt" <<'JS'
const fs = require('fs'), path = require('path');
const carried = new Set(['webgpu', 'tsx', 'esbuild', '@esbuild/linux-x64', '@webgpu/types']); // in .device/
const seen = new Set(), stack = process.argv.slice(2);
while (stack.length) {
  const name = stack.pop();
  if (seen.has(name) || carried.has(name)) continue;
  const pj = path.join('node_modules', name, 'package.json');
  if (!fs.existsSync(pj)) { console.error(`chromium-device: ${name} is not in node_modules (run npm install)`); process.exit(2); }
  seen.add(name);
  const meta = JSON.parse(fs.readFileSync(pj, 'utf8'));
  for (const dep of Object.keys({ ...meta.dependencies, ...meta.optionalDependencies }))
    if (fs.existsSync(path.join('node_modules', dep, 'package.json'))) stack.push(dep);
}
console.log([...seen].map((n) => 'node_modules/' + n).join('\n'));
JS
  # onnxruntime-web: only the ES-module builds and the two .wasm files build.mjs copies (ORT_FILES there); no source maps,
  # no CommonJS/webgl/jspi builds. onnxruntime-node: linux-x64 only.
  tar -cf - \
    --exclude='*.map' --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
    --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64' \
    --exclude='node_modules/onnxruntime-web/dist/*.js' --exclude='node_modules/onnxruntime-web/dist/*webgl*' \
    --exclude='node_modules/onnxruntime-web/dist/*jspi*' --exclude='node_modules/onnxruntime-web/dist/*jsep*' \
    --exclude='node_modules/onnxruntime-web/lib' -T "$work/npm-closure.txt" \
    | tar -xf - -C "$work/stage"

  echo "chromium-device: staged $(du -sh "$work/stage/chromium" | cut -f1) of Chromium, $(du -sh "$work/stage/node_modules" | cut -f1) of npm packages"
  tar -C "$work/stage" -cf - chromium node_modules | xz -T0 -6 | split -b "$part_bytes" -d -a 2 - "$work/chromium.tar.xz.part-"
  (cd "$work" && sha256sum chromium.tar.xz.part-* > parts.sha256 && ls -l chromium.tar.xz.part-* | awk '{print $5, $9}' > parts.txt)
  cat "$work/parts.txt"
  echo "chromium-device: $(ls "$work"/chromium.tar.xz.part-* | wc -l) parts, $(cat "$work"/chromium.tar.xz.part-* | wc -c) bytes in all"
}

# receive N: copy part N, carried in this call under .work/chromium/, to the folder that outlives the call.
receive() {
  local n; n=$(printf '%02d' "$((10#${1:?usage: receive N}))")
  local src=$work/chromium.tar.xz.part-$n
  [ -f "$src" ] || { echo "chromium-device: $src was not carried in this call (carry [\"$src\"])" >&2; exit 2; }
  mkdir -p "$parts_dir"
  cp "$src" "$parts_dir/"
  [ -f "$work/parts.sha256" ] && cp "$work/parts.sha256" "$parts_dir/"
  echo "chromium-device: received part $n ($(wc -c < "$src") bytes); in $parts_dir now: $(cd "$parts_dir" && ls chromium.tar.xz.part-* | tr '\n' ' ')"
}

print_env() {
  local lib=$prefix/chromium/usr/lib/x86_64-linux-gnu
  echo "export CHROMIUM_ROOT=$prefix"
  echo "export ONEREC_CHROMIUM=$prefix/chromium/usr/lib/chromium/chromium"
  echo "export LD_LIBRARY_PATH=$prefix/chromium/usr/lib/chromium:$lib:$lib/pulseaudio:$prefix/chromium/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  echo "export FONTCONFIG_PATH=$prefix/chromium/etc/fonts"
  echo "export XDG_DATA_DIRS=$prefix/chromium/usr/share"
}

unpack() {
  # Parts received in earlier calls, and any carried in this one.
  mkdir -p "$parts_dir"
  for f in "$work"/chromium.tar.xz.part-* "$work"/parts.sha256; do [ -f "$f" ] && cp -n "$f" "$parts_dir/"; done
  (cd "$parts_dir" && ls chromium.tar.xz.part-* >/dev/null 2>&1) || { echo "chromium-device: no parts in $parts_dir" >&2; exit 2; }
  if [ -f "$parts_dir/parts.sha256" ]; then
    (cd "$parts_dir" && sha256sum -c --quiet parts.sha256) || { echo "chromium-device: a part is missing or damaged (above); receive it again" >&2; exit 2; }
  fi
  rm -rf "$prefix"; mkdir -p "$prefix"
  cat "$parts_dir"/chromium.tar.xz.part-* | xz -dc | tar -xf - -C "$prefix"
  # fontconfig's config names /usr/share/fonts; point it at the carried fonts too.
  local fonts=$prefix/chromium/etc/fonts/fonts.conf
  [ -f "$fonts" ] && sed -i "s#<dir>/usr/share/fonts</dir>#<dir>/usr/share/fonts</dir><dir>$prefix/chromium/usr/share/fonts</dir>#" "$fonts"
  # CHROMIUM_SKIP_NPM=1: leave node_modules/ alone (a check of the parts on a machine that has its own).
  [ "${CHROMIUM_SKIP_NPM:-0}" = 1 ] || { mkdir -p node_modules && cp -a "$prefix/node_modules/." node_modules/; }
  eval "$(print_env)"
  local missing; missing=$(ldd "$ONEREC_CHROMIUM" | grep 'not found' || true)
  # Exit 3 after unpacking: bench/chromium-device-run.sh still runs the Node rows and records Chromium's failure.
  [ -z "$missing" ] || { echo "chromium-device: libraries not found for $ONEREC_CHROMIUM (the base lacks a package EXCLUDE leaves out):" >&2; echo "$missing" >&2; exit 3; }
  echo "chromium-device: unpacked to $prefix ($(du -sh "$prefix" | cut -f1)); $("$ONEREC_CHROMIUM" --version 2>/dev/null || echo 'chromium --version failed')"
  echo "# the environment for bench/recommend.ts (eval \"\$(bench/chromium-device.sh env)\"):"
  print_env
}

case "${1:-}" in
  pack) pack ;;
  receive) receive "${2:-}" ;;
  unpack) unpack ;;
  env) print_env ;;
  *) echo "usage: bench/chromium-device.sh pack | receive N | unpack | env" >&2; exit 2 ;;
esac
