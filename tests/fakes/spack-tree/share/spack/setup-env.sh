# Minimal stand-in for Spack's share/spack/setup-env.sh: puts this tree's bin/ (whose spack is
# the fake tests/fakes/spack) first on PATH. Sourced from bash it finds the tree itself; from sh
# (a recipe's %post) it assumes /opt/spack, where the singularity stand-in puts the tree.
if [ -n "${BASH_SOURCE:-}" ]; then
  SPACK_ROOT=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
else
  SPACK_ROOT=/opt/spack
fi
export SPACK_ROOT
PATH="$SPACK_ROOT/bin:$PATH"
export PATH
