#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter: python3.10 on PATH, else pyenv's 3.10.x.
# TFX 1.16 needs Python < 3.11; see DESIGN.md.
set -euo pipefail
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
if [ -n "${PYTHON310:-}" ] && ok "$PYTHON310"; then echo "$PYTHON310"; exit 0; fi
if command -v python3.10 >/dev/null 2>&1 && ok "$(command -v python3.10)"; then command -v python3.10; exit 0; fi
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  for cand in $(ls -d "$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do
    if ok "$cand"; then echo "$cand"; exit 0; fi
  done
done
echo "error: Python 3.10 not found (TFX 1.16 needs Python 3.10). Install it (e.g. 'pyenv install 3.10') or set PYTHON310=/path/to/python3.10." >&2
exit 1
