# shellcheck shell=bash
# Shared by the benchmarks: a copy of templates/ whose three stage bodies are reduced to one
# second of work plus the files the publisher needs. job.sh.mustache (the prologue and epilogue
# every job runs) is unchanged, so the scheduler-facing part is the product's own.
# Fails, naming the file, when the source has no such stage template (the stages were renamed:
# the benchmark needs updating).
bench_one_second_templates() { # templates-dir dest
  local stage
  for stage in concretize build module; do
    [[ -f $1/$stage.sh.mustache ]] || {
      echo "bench_one_second_templates: no $1/$stage.sh.mustache to replace" >&2
      return 1
    }
  done
  cp -r "$1" "$2"
  cat >"$2/concretize.sh.mustache" <<'T'
# Benchmark stage concretize: one second, then out/spack.lock.
sleep 1
printf '{"_meta": {"lockfile-version": 5}, "roots": [], "concrete_specs": {}}\n' >out/spack.lock
T
  cat >"$2/build.sh.mustache" <<'T'
# Benchmark stage build: one second, then out/singularity.def.
sleep 1
printf 'Bootstrap: docker\nFrom: ubuntu:22.04\n' >out/singularity.def
T
  cat >"$2/module.sh.mustache" <<'T'
# Benchmark stage module: one second, then the module file, README.md and softpack.yml.
sleep 1
printf '#%%Module\n' >out/module
printf '# benchmark\n' >out/README.md
printf 'description: benchmark\npackages:\n  - xxhash@0.8.1\n' >out/softpack.yml
T
}
