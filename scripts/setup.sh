#!/usr/bin/env bash
# Installs the Debian packages of scripts/apt-packages.txt that are missing.
#   scripts/setup.sh          the [build] group
#   scripts/setup.sh bench    the [build] and [bench] groups
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
groups="build ${1:-}"
pkgs=()
group=""
while IFS= read -r line; do
  line="${line%%#*}"
  line="$(echo "$line" | xargs)"
  [ -z "$line" ] && continue
  if [[ "$line" =~ ^\[(.*)\]$ ]]; then group="${BASH_REMATCH[1]}"; continue; fi
  [[ " $groups " == *" $group "* ]] && pkgs+=("$line")
done < "$here/apt-packages.txt"
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
