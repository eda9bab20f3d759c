# Stand-in for Spack 0.21's share/spack/setup-env.sh (see tests/fakes/README.md), sourced by
# POSIX sh, bash or zsh: `. <tree>/share/spack/setup-env.sh`. Like the real one it finds the
# tree it belongs to, exports SPACK_ROOT and SPACK_PYTHON and puts <tree>/bin first on PATH
# (once). Unlike the real one it defines no `spack` shell function and sets up no module
# paths: `spack env activate --sh` prints the shell code instead of applying it, as the real
# command does when called with --sh.
#
# Finding the tree: bash names the sourced file in BASH_SOURCE and zsh in %N; dash keeps the
# sourced file open while it reads it, so one of /proc/$$/fd/* points at it (the real script
# takes the highest descriptor, which fails when the caller passed a higher one down). When
# none of that leads to a tree with an executable bin/spack, $SPACK_ROOT is used, and without
# it this fails with the real script's message (return 1).

if [ -n "${BASH_VERSION:-}" ]; then
    eval '_fsp_file=${BASH_SOURCE[0]:-}'
elif [ -n "${ZSH_VERSION:-}" ]; then
    eval '_fsp_file=${(%):-%N}'
else
    _fsp_file=
    for _fsp_fd in "/proc/$$/fd"/*; do
        _fsp_link=$(readlink "$_fsp_fd" 2>/dev/null) || continue
        case "$_fsp_link" in
            */share/spack/setup-env.sh) _fsp_file=$_fsp_link ;;
        esac
    done
    unset _fsp_fd _fsp_link
fi

_fsp_root=
if [ -n "$_fsp_file" ] && [ -f "$_fsp_file" ]; then
    _fsp_root=$(cd "$(dirname "$_fsp_file")/../.." >/dev/null 2>&1 && pwd)
fi
# -f as well as -x: a bin/spack link that resolves to a directory does not count.
if [ -z "$_fsp_root" ] || [ ! -f "$_fsp_root/bin/spack" ] || [ ! -x "$_fsp_root/bin/spack" ]; then
    _fsp_root=${SPACK_ROOT:-}
fi
if [ -z "$_fsp_root" ] || [ ! -f "$_fsp_root/bin/spack" ] || [ ! -x "$_fsp_root/bin/spack" ]; then
    if [ -n "${BASH_VERSION:-}" ]; then _fsp_shell="bash"
    elif [ -n "${ZSH_VERSION:-}" ]; then _fsp_shell="zsh"
    else _fsp_shell="sh"; fi
    echo "==> Error: SPACK_ROOT must point to spack's prefix when using $_fsp_shell"
    echo "Run this with the correct prefix before sourcing setup-env.sh:"
    echo "    export SPACK_ROOT=</path/to/spack>"
    unset _fsp_file _fsp_root _fsp_shell
    return 1
fi

export SPACK_ROOT="${_fsp_root%/}"
case ":${PATH:-}:" in
    *":$SPACK_ROOT/bin:"*) ;;
    *) export PATH="$SPACK_ROOT/bin${PATH:+:$PATH}" ;;
esac
if [ -z "${SPACK_PYTHON:-}" ]; then
    SPACK_PYTHON=$(command -v python3 2>/dev/null || true)
    export SPACK_PYTHON
fi
unset _fsp_file _fsp_root
