#!/bin/bash
# GitLab's Push Hook against a real bare artifacts repository and the real service (local
# scheduler, the spack/singularity stand-ins, the git destination): the payload is GitLab's
# documented shape, made from the repository (at most the 20 newest commits, oldest first,
# total_commits_count), with GitLab 17.4's delivery headers. Checks that
#   - an environment added in commit 1 of 21 (not in the payload's list) is built;
#   - a delivery whose fetch fails is not recorded, and its redelivery (same Idempotency-Key,
#     new X-Gitlab-Event-UUID) builds; a third delivery of it is a duplicate;
#   - the same commit under two more delivery ids (while building, and once published) starts
#     no second build;
#   - a push to another branch is ignored;
#   - the builder's own commits (its publish commits, a commit by its author email, one with a
#     Softpack-Build-Id: trailer) start nothing, and in a push mixing them with a user's
#     commits only the environments a user touched are built;
#   - a push creating the branch checks every softpack.yml at `after`.
source "$(dirname "$0")/lib/common.bash"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
echo "gitlab-secret" >"$IT_DIR/gitlab.token"
remote="$IT_DIR/artifacts.git"
write_config <<YAML
artifacts:
  repo: $remote
publish:
  destinations: [git]
  # Two builds publishing at once: the second push is retried (rebased) soon.
  retry_initial: 500ms
  retry_max: 2s
server:
  address: 127.0.0.1
  port: $PORT
  gitlab_token_file: $IT_DIR/gitlab.token
YAML

# The artifacts repository, with one commit on main, and a user's clone of it.
git init -q --bare -b main "$remote"
clone="$IT_DIR/clone"
git clone -q "$remote" "$clone" 2>/dev/null
user_commit() { # name email message
  git -C "$clone" add -A
  git -C "$clone" -c user.name="$1" -c user.email="$2" commit -qm "$3"
}
echo "Environments built by softpack-builder." >"$clone/README.md"
user_commit Alice alice@example.org "Start the artifacts repository"
git -C "$clone" push -q origin HEAD:main
add_env() { # path/name-version
  mkdir -p "$clone/environments/$1"
  printf 'description: %s\npackages:\n  - hello\n' "$1" >"$clone/environments/$1/softpack.yml"
}
sync_clone() { git -C "$clone" pull -q --rebase origin main; }

trap stop_service EXIT
start_service

# GitLab's push payload (docs: "Webhook events" > "Push events") for before..after of the
# clone, pushed to `ref`: the newest 20 commits, oldest first, with added/modified/removed.
payload() { # before after ref
  /usr/bin/python3 - "$clone" "$1" "$2" "$3" <<'PY'
import json, subprocess, sys
repo, before, after, ref = sys.argv[1:]
def git(*args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout
zero = "0" * 40
rng = after if before == zero else f"{before}..{after}"
ids = git("rev-list", "--reverse", rng).split()
commits = []
for c in ids[-20:]:
    name, email, stamp, message = git("show", "-s", "--format=%an%x00%ae%x00%aI%x00%B", c).split("\0", 3)
    files = {"A": [], "M": [], "D": []}
    out = git("diff-tree", "--no-commit-id", "-r", "--root", "--name-status", "-z", c).split("\0")
    for status, path in zip(out[0::2], out[1::2]):
        files.setdefault(status[0], []).append(path)
    commits.append({
        "id": c, "message": message, "title": message.split("\n", 1)[0], "timestamp": stamp,
        "url": f"https://gitlab.example.com/hgi/softpack-artifacts/-/commit/{c}",
        "author": {"name": name, "email": email},
        "added": files["A"], "modified": files["M"], "removed": files["D"]})
project = {
    "id": 15, "name": "softpack-artifacts", "description": "", "web_url":
    "https://gitlab.example.com/hgi/softpack-artifacts", "avatar_url": None,
    "git_ssh_url": "git@gitlab.example.com:hgi/softpack-artifacts.git",
    "git_http_url": "https://gitlab.example.com/hgi/softpack-artifacts.git",
    "namespace": "hgi", "visibility_level": 0, "path_with_namespace": "hgi/softpack-artifacts",
    "default_branch": "main", "ci_config_path": None,
    "homepage": "https://gitlab.example.com/hgi/softpack-artifacts",
    "url": "git@gitlab.example.com:hgi/softpack-artifacts.git",
    "ssh_url": "git@gitlab.example.com:hgi/softpack-artifacts.git",
    "http_url": "https://gitlab.example.com/hgi/softpack-artifacts.git"}
print(json.dumps({
    "object_kind": "push", "event_name": "push", "before": before, "after": after, "ref": ref,
    "ref_protected": True, "checkout_sha": after, "message": None, "user_id": 4,
    "user_name": "Alice", "user_username": "alice", "user_email": "",
    "user_avatar": "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
    "project_id": 15, "project": project, "commits": commits,
    "total_commits_count": len(ids), "push_options": {},
    "repository": {"name": "softpack-artifacts", "url": project["url"], "description": "",
                   "homepage": project["homepage"], "git_http_url": project["git_http_url"],
                   "git_ssh_url": project["git_ssh_url"], "visibility_level": 0}}))
PY
}

# POST a payload file as GitLab 17.4+ delivers it; prints "<status> <body>".
hook() { # payload-file idempotency-key
  http POST /webhooks/gitlab -H 'Content-Type: application/json' -H 'User-Agent: GitLab/17.4.0' \
    -H 'X-Gitlab-Event: Push Hook' -H 'X-Gitlab-Token: gitlab-secret' \
    -H 'X-Gitlab-Instance: https://gitlab.example.com' \
    -H 'X-Gitlab-Webhook-UUID: 2e3e1f1c-5b1f-4c46-9f9e-8b2d4a1e7f10' \
    -H "X-Gitlab-Event-UUID: $(cat /proc/sys/kernel/random/uuid)" \
    -H "Idempotency-Key: $2" --data-binary "@$1"
}

builds_of() { curl -fsS "$URL/builds" | jq "map(select(.name == \"$1\")) | length"; }
build_of() { curl -fsS "$URL/builds" | jq -r "map(select(.name == \"$1\"))[0].id"; }
wait_built() { # env
  wait_for "[[ \$(builds_of $1) -ge 1 ]]" 30 || fail "no build of $1: $(curl -fsS "$URL/builds")"
  assert_eq published "$(wait_build "$(build_of "$1")" 120)" "state of the build of $1"
}
# Waits until the service has logged a line matching an extended regex.
wait_log() { # regex what
  wait_for "grep -qE '$1' '$IT_DIR/service.log'" 30 || fail "$2: no log line [$1]: $(tail -20 "$IT_DIR/service.log")"
}

# 1. More than 20 commits: the environment is added in commit 1 of 21; GitLab's payload lists
#    only the newest 20, none of which touches it.
before=$(git -C "$clone" rev-parse HEAD)
add_env users/alice/many-1
user_commit Alice alice@example.org "Add many-1"
for i in $(seq 2 21); do
  echo "change $i" >>"$clone/README.md"
  user_commit Alice alice@example.org "README, change $i"
done
git -C "$clone" push -q origin HEAD:main
after=$(git -C "$clone" rev-parse HEAD)
payload "$before" "$after" refs/heads/main >"$IT_DIR/p1.json"
assert_eq 20 "$(jq '.commits | length' "$IT_DIR/p1.json")" "commits listed in the payload"
assert_eq 21 "$(jq .total_commits_count "$IT_DIR/p1.json")" "total_commits_count"
assert_eq 0 "$(jq '[.commits[] | .added[], .modified[] | select(contains("many-1"))] | length' \
  "$IT_DIR/p1.json")" "the payload's list names the environment"
r=$(hook "$IT_DIR/p1.json" key-1)
assert_eq 202 "${r%% *}" "delivery of a 21-commit push"
assert_eq true "$(jq .queued <<<"${r#* }")" "the push is queued"
wait_built users/alice/many-1
assert_eq 1 "$(builds_of users/alice/many-1)" "builds of many-1"
assert_eq "webhook alice" "$(curl -fsS "$URL/builds" | jq -r 'map(select(.name == "users/alice/many-1"))[0].requested_by | "\(.kind) \(.name)"')" \
  "the build is attributed to the pusher"

# 2. The fetch fails (the repository is unreachable), then GitLab redelivers.
sync_clone
before=$(git -C "$clone" rev-parse HEAD)
add_env users/bob/later-1
user_commit Bob bob@example.org "Add later-1"
git -C "$clone" push -q origin HEAD:main
after=$(git -C "$clone" rev-parse HEAD)
payload "$before" "$after" refs/heads/main >"$IT_DIR/p2.json"
mv "$remote" "$remote.away"
r=$(hook "$IT_DIR/p2.json" key-2)
assert_eq 202 "${r%% *}" "delivery while the repository is unreachable"
wait_for "curl -fsS '$URL/metrics' | grep -q '^softpack_webhook_failed_deliveries_total 1$'" 30 ||
  fail "the failed fetch is not counted: $(curl -fsS "$URL/metrics" | grep webhook)"
wait_log 'webhook key-2: .*git fetch.*not recorded as handled' "the failed fetch is logged"
assert_eq 0 "$(builds_of users/bob/later-1)" "builds after the failed fetch"
mv "$remote.away" "$remote"
r=$(hook "$IT_DIR/p2.json" key-2)
assert_eq 202 "${r%% *}" "redelivery"
assert_eq true "$(jq .queued <<<"${r#* }")" "the redelivery is handled, not a duplicate"
wait_for "[[ \$(builds_of users/bob/later-1) -ge 1 ]]" 30 ||
  fail "the redelivery started no build: $(tail -20 "$IT_DIR/service.log")"

# 3. The same commit under new delivery ids: while its build runs, and once it is published.
r=$(hook "$IT_DIR/p2.json" key-3)
assert_eq 202 "${r%% *}" "the same push under another delivery id"
wait_log 'webhook key-3: users/bob/later-1 at [0-9a-f]{40} is already build .*not built again' \
  "the commit is de-duplicated while it builds"
assert_eq published "$(wait_build "$(build_of users/bob/later-1)" 120)" "state of later-1"
r=$(hook "$IT_DIR/p2.json" key-4)
assert_eq 202 "${r%% *}" "the same push once more"
wait_log 'webhook key-4: users/bob/later-1 at [0-9a-f]{40} is already build .*\(published\); not built again' \
  "the commit is de-duplicated once published"
r=$(hook "$IT_DIR/p2.json" key-2)
assert_contains "${r#* }" "duplicate delivery key-2" "a handled delivery again"
assert_eq 1 "$(builds_of users/bob/later-1)" "builds of later-1"

# 4. A push to another branch.
sync_clone
git -C "$clone" checkout -q -b feature
add_env users/carol/side-1
user_commit Carol carol@example.org "Add side-1 on a branch"
git -C "$clone" push -q origin HEAD:feature
payload 0000000000000000000000000000000000000000 "$(git -C "$clone" rev-parse HEAD)" \
  refs/heads/feature >"$IT_DIR/p4.json"
r=$(hook "$IT_DIR/p4.json" key-5)
assert_eq 202 "${r%% *}" "a push to another branch"
assert_eq false "$(jq .queued <<<"${r#* }")" "a push to another branch is not read"
assert_contains "$(jq -r .message <<<"${r#* }")" "refs/heads/feature ignored" "the answer says why"
wait_log 'webhook key-5: push to refs/heads/feature ignored' "the ignored push is logged"
git -C "$clone" checkout -q main

# 5. The builder's own commits: its publish commit of later-1 (it rewrites later-1's
#    softpack.yml), a commit by its author email and one with its trailer, each adding an
#    environment without a module.
sync_clone
before=$after # later-1's commit; the builder's publish commit follows it
add_env users/dave/bot-1
user_commit softpack-builder softpack-builder@localhost "Add users/dave/bot-1"
add_env users/dave/bot-2
user_commit "CI bot" ci@example.org "Add users/dave/bot-2

Softpack-Build-Id: 20261204T160000Z-0000beef"
git -C "$clone" push -q origin HEAD:main
after=$(git -C "$clone" rev-parse HEAD)
assert_eq 3 "$(git -C "$clone" rev-list --count "$before..$after")" "commits of the builder's push"
payload "$before" "$after" refs/heads/main >"$IT_DIR/p5.json"
r=$(hook "$IT_DIR/p5.json" key-6)
assert_eq 202 "${r%% *}" "a push of the builder's commits"
wait_log 'webhook key-6: .* 0 environment\(s\) to build, 3 changed by the builder only' \
  "the builder's own changes are recognised"
assert_eq 0 "$(builds_of users/dave/bot-1)" "builds of bot-1 (the builder's author email)"
assert_eq 0 "$(builds_of users/dave/bot-2)" "builds of bot-2 (the builder's trailer)"

#    A push mixing them: a builder commit edits bot-2; a user adds mixed-1 and edits bot-1;
#    a builder commit edits bot-1 again. The user's environments are built, bot-2 is not.
before=$after
echo "  - xxhash" >>"$clone/environments/users/dave/bot-2/softpack.yml"
user_commit "CI bot" ci@example.org "Rebuild bot-2

Softpack-Build-Id: 20261204T160100Z-0000cafe"
add_env users/erin/mixed-1
echo "  - xxhash" >>"$clone/environments/users/dave/bot-1/softpack.yml"
user_commit Erin erin@example.org "Add mixed-1, add xxhash to bot-1"
echo "# normalised" >>"$clone/environments/users/dave/bot-1/softpack.yml"
user_commit softpack-builder softpack-builder@localhost "Normalise bot-1"
git -C "$clone" push -q origin HEAD:main
after=$(git -C "$clone" rev-parse HEAD)
payload "$before" "$after" refs/heads/main >"$IT_DIR/p6.json"
r=$(hook "$IT_DIR/p6.json" key-7)
assert_eq 202 "${r%% *}" "a push mixing builder and user commits"
wait_log 'webhook key-7: .* 2 environment\(s\) to build, 1 changed by the builder only' \
  "the mixed push is split by who changed what"
wait_built users/erin/mixed-1
wait_built users/dave/bot-1
assert_eq 0 "$(builds_of users/dave/bot-2)" "builds of bot-2 after the mixed push"

# 6. A push that creates the branch (before all zeros, as GitLab sends when main is pushed
#    anew): every softpack.yml at `after` is checked; the built ones (a module) and bot-2 (the
#    builder's only) are left alone, the new fresh-1 is built.
sync_clone
add_env users/frank/fresh-1
user_commit Frank frank@example.org "Add fresh-1"
git -C "$clone" push -q origin HEAD:main
payload 0000000000000000000000000000000000000000 "$(git -C "$clone" rev-parse HEAD)" \
  refs/heads/main >"$IT_DIR/p7.json"
r=$(hook "$IT_DIR/p7.json" key-8)
assert_eq 202 "${r%% *}" "a push creating the branch"
assert_contains "$(jq -r .message <<<"${r#* }")" "creating refs/heads/main" "the answer"
wait_log 'webhook key-8: .* 1 environment\(s\) to build, 1 changed by the builder only, 4 already built' \
  "every softpack.yml at after is checked"
wait_built users/frank/fresh-1

# In all: many-1, later-1, mixed-1, bot-1 and fresh-1, once each.
assert_eq 5 "$(curl -fsS "$URL/builds" | jq length)" "builds in all"
metrics=$(curl -fsS "$URL/metrics")
assert_contains "$metrics" "softpack_webhook_failed_deliveries_total 1" "failed deliveries"
assert_contains "$metrics" "softpack_webhook_duplicate_deliveries_total 1" "duplicate deliveries"
echo "PASS"
