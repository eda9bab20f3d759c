#!/bin/bash
# Security check of what jobs see: the service runs with every secret it can have (API and
# GitLab tokens, registry credentials in its environment, a git credentials file), builds an
# environment on the local executor and, when the local cluster is up, on Slurm, with a build
# stage that dumps its whole environment into the build directory. No secret may appear in the
# rendered job scripts, the jobs' environment, the logs, the stored state or the service's log.
source "$(dirname "$0")/lib/common.bash"

API_TOKEN="api-Tok3n-$RANDOM$RANDOM"
GITLAB_TOKEN="gl-Tok3n-$RANDOM$RANDOM"
REGISTRY_PASSWORD="reg-Pw-$RANDOM$RANDOM"
GIT_TOKEN="git-Tok3n-$RANDOM$RANDOM"
SECRETS=("$API_TOKEN" "$GITLAB_TOKEN" "$REGISTRY_PASSWORD" "$GIT_TOKEN")

printf '%s\n' "$GITLAB_TOKEN" >"$IT_DIR/gitlab.token"
printf 'https://softpack:%s@git.example.org\n' "$GIT_TOKEN" >"$IT_DIR/git-credentials"
chmod 600 "$IT_DIR/gitlab.token" "$IT_DIR/git-credentials"

backends=(local)
if [[ -z "${SOFTPACK_TEST_SLURM_SKIP:-}" ]] && command -v sbatch >/dev/null &&
  timeout 10 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
  backends+=(slurm)
else
  echo "note: the Slurm half is skipped (no local cluster up)"
fi

trap stop_service EXIT
for backend in "${backends[@]}"; do
  rm -rf "$IT_DIR/var"
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  write_config "$backend" <<YAML
container:
  # The build stage first writes the environment it runs with next to the image.
  build_command: [bash, -c, 'env >out/job-environment.txt; exec singularity build "\$@"', dump-env]
artifacts:
  credentials_file: $IT_DIR/git-credentials
server:
  address: 127.0.0.1
  port: $PORT
  gitlab_token_file: $IT_DIR/gitlab.token
YAML
  SOFTPACK_API_TOKEN="$API_TOKEN" SOFTPACK_REGISTRY_CREDENTIALS="softpack:$REGISTRY_PASSWORD" \
    start_service
  r=$(http POST /environments/build -H "Authorization: Bearer $API_TOKEN" \
    -d '{"name":"users/alice/secret-env","version":"1","model":{"description":"d","packages":[{"name":"xxhash","version":"0.8.1"}]}}')
  assert_eq 200 "${r%% *}" "POST /environments/build on $backend"
  id=$(jq -r .id <<<"${r#* }")
  assert_eq published "$(wait_build "$id" 240)" "final state on $backend"
  stop_service

  build_dir="$IT_DIR/var/builds/$id"
  [[ -s "$build_dir/out/job-environment.txt" ]] || fail "the build stage did not dump its environment"
  # The dump is real: it holds the PATH the job script sets (jobs.path).
  grep -q "^PATH=$FAKES:" "$build_dir/out/job-environment.txt" ||
    fail "job environment lacks the configured PATH: $(cat "$build_dir/out/job-environment.txt")"
  for s in "${SECRETS[@]}"; do
    if found=$(grep -rlaF -- "$s" "$IT_DIR/var" "$IT_DIR/service.log"); then
      fail "a secret reached $found ($backend)"
    fi
  done
  # No variable of the service's own environment named like a secret reached the job.
  if grep -E '^SOFTPACK_(API_TOKEN|GITLAB_TOKEN|REGISTRY_CREDENTIALS)=' "$build_dir/out/job-environment.txt"; then
    fail "the service's secret variables reached the job ($backend)"
  fi
  echo "$backend: no secret in $(find "$IT_DIR/var" -type f | wc -l) files of the data directory"
done
echo "PASS"
