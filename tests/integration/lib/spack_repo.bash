# The test package repository for real Spack (tests/fixtures/spack-repo, see its README.md):
# make_spack_repo writes a usable copy of it. Needs only bash, tar, gzip, sha256sum and sed, so
# it can also run as the test user (`as_test_user bash -c 'source …/spack_repo.bash; …'`).
# shellcheck shell=bash

SPACK_REPO_FIXTURE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../fixtures/spack-repo" && pwd)"
# shellcheck disable=SC2034 # for the tests that source this
# Its packages, dependencies first: sp-libb needs sp-liba, sp-tool needs sp-libb.
SPACK_REPO_PACKAGES=(sp-liba sp-libb sp-tool sp-hello)
# shellcheck disable=SC2034
# The build-time knob: each package's install() sleeps this many seconds (unset: none).
SPACK_REPO_KNOB=SOFTPACK_TEST_BUILD_SECONDS

# make_spack_repo DEST [OWNER]
# Makes DEST (which must not exist, or be empty) a Spack repository (namespace softpack_test)
# holding the fixture's packages: DEST/repo.yaml, DEST/packages/*/package.py with the
# placeholders filled in, and the sources as DEST/tarballs/NAME-VER.tar.gz, which those
# package.py files name by file:// URL and sha256. The tarballs are deterministic (sorted,
# mtime 0, owner 0, normalised modes, gzip without a name or time), so two copies made from the
# same checkout have the same sha256, hence the same Spack hashes, wherever they are.
# With OWNER, chowns DEST to OWNER. Prints nothing; on an error says what on stderr and returns 1.
make_spack_repo() {
  local dest="${1:?make_spack_repo DEST [OWNER]}" owner="${2:-}"
  local fixture="$SPACK_REPO_FIXTURE" src name sha ppy
  local -a fill
  dest=$(realpath -m -- "$dest") || return 1
  # The path goes into sed expressions and URLs.
  if [[ ! "$dest" =~ ^/[A-Za-z0-9._/+-]+$ ]]; then
    echo "make_spack_repo: $dest: only letters, digits and ._/+- are allowed in the path" >&2
    return 1
  fi
  mkdir -p "$dest" || return 1
  if [[ -n "$(ls -A "$dest")" ]]; then
    echo "make_spack_repo: $dest is not empty" >&2
    return 1
  fi
  mkdir -p "$dest/tarballs" || return 1
  fill=(-e "s|@SOURCES_URL@|file://$dest/tarballs|g")
  for src in "$fixture"/sources/*/; do
    name=$(basename "$src")
    tar -C "$fixture/sources" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --mode=u=rwX,go=rX -cf - "$name" | gzip -n >"$dest/tarballs/$name.tar.gz" || {
      echo "make_spack_repo: cannot make $dest/tarballs/$name.tar.gz" >&2
      return 1
    }
    sha=$(sha256sum "$dest/tarballs/$name.tar.gz" | cut -d' ' -f1) || return 1
    fill+=(-e "s|@SHA256:$name@|$sha|g")
  done
  cp "$fixture/repo.yaml" "$fixture/softpack_test_knobs.py" "$dest/" || return 1
  for ppy in "$fixture"/packages/*/package.py; do
    name=$(basename "$(dirname "$ppy")")
    mkdir -p "$dest/packages/$name" || return 1
    # Written afresh (new mtimes), so Spack rebuilds its cached index of the namespace.
    sed "${fill[@]}" "$ppy" >"$dest/packages/$name/package.py" || return 1
  done
  if grep -nE '@(SOURCES_URL|SHA256:[^@]*)@' "$dest"/packages/*/package.py >&2; then
    echo "make_spack_repo: placeholders left in $dest (a package without sources/NAME-VER?)" >&2
    return 1
  fi
  chmod -R a+rX "$dest" || return 1
  if [[ -n "$owner" ]]; then
    chown -R "$owner" "$dest" || return 1
  fi
}
