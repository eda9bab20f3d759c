#!/bin/bash
# `cmake --install` puts what the systemd unit names where it names it: the binary of
# ExecStart= and the document of Documentation= (docs/operations.md), under a DESTDIR.
source "$(dirname "$0")/lib/common.bash"

build_dir=$(dirname "$SOFTPACK_BUILDER")
[[ -f "$build_dir/cmake_install.cmake" ]] || fail "$build_dir is not a CMake build directory"
unit="$SOFTPACK_SOURCE_DIR/config/softpack-builder.service"
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
exec_path=$(sed -n 's|^ExecStart=\([^ ]*\).*|\1|p' "$unit")
[[ "$doc" == /usr/local/* && "$exec_path" == /usr/local/* ]] ||
  fail "the unit's paths are not under /usr/local: $doc $exec_path"

root="$IT_DIR/root"
DESTDIR="$root" cmake --install "$build_dir" --prefix /usr/local >"$IT_DIR/install.log" 2>&1 ||
  fail "cmake --install: $(tail -5 "$IT_DIR/install.log")"
trap 'rm -rf "$root"' EXIT
[[ -f "$root$doc" ]] || fail "Documentation=$doc is not installed; installed: $(cd "$root" && find . -type f | sort)"
cmp -s "$root$doc" "$SOFTPACK_SOURCE_DIR/docs/operations.md" || fail "$doc is not docs/operations.md"
[[ -x "$root$exec_path" ]] || fail "ExecStart=$exec_path is not installed"
[[ -f "$root/usr/local/share/softpack-builder/templates/job.sh.mustache" ]] || fail "templates"
docdir=$(dirname "$root$doc")
for f in README.md architecture.md examples/softpack-builder.yaml examples/softpack-builder.service; do
  [[ -f "$docdir/$f" ]] || fail "$f is not installed in $(dirname "$doc")"
done
echo "PASS"
