# Sourced by scripts that run sanitized binaries by hand: exports the options of
# tests/sanitizers/options.txt (CTest reads the same file for the tests of a sanitized build).
_kiln_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
while IFS= read -r _kiln_line; do
  [ -n "$_kiln_line" ] && export "${_kiln_line//\$\{root\}/$_kiln_root}"
done < "$_kiln_root/tests/sanitizers/options.txt"
