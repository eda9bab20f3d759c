#!/bin/bash
# A package that fails to build makes the `build` stage fail: the module stage is cancelled,
# builder.out alone is published (softpack-core then marks the environment failed), and
# sp-submit exits 1.
source "$(dirname "$0")/lib/common.bash"

write_config </dev/null
cat >"$IT_DIR/softpack.yml" <<'YML'
description: an environment whose build fails
packages:
  - xxhash
  - broken-build
YML

rc=0
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name groups/hgi/broken --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "exit code of a failed build"
assert_matches "$out" "build  job local-[0-9a-f-]+  failed \\(exit " "progress output"
assert_matches "$out" "module  job local-[0-9a-f-]+  cancelled" "progress output"
assert_contains "$out" "failed: stage build failed" "final line"

repo="$IT_DIR/var/artifacts.git"
dir=environments/groups/hgi/broken-1
assert_eq "builder.out" "$(repo_files "$repo" main "$dir" | tr -d '\n')" "only builder.out is published"
builder_out=$(git -C "$repo" show "main:$dir/builder.out")
assert_matches "$builder_out" "==> stage build \\(job local-[0-9a-f-]+\\): failed" "builder.out names the failed stage"
assert_contains "$builder_out" "broken-build" "builder.out holds the build log"
assert_matches "$builder_out" "==> stage module \\(job local-[0-9a-f-]+\\): cancelled" "builder.out"
build_dir=$(ls -d "$IT_DIR"/var/builds/*/)
[[ ! -e "$build_dir/logs/module.started" ]] || fail "the module stage ran although build failed"
echo "PASS"
