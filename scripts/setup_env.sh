#!/usr/bin/env bash
# Creates (or reuses) the project's virtualenv with Python 3.10 and the pinned lock file.
# TFX 1.16 needs Python < 3.11, so we look for 3.10 on PATH first, then in pyenv.
set -euo pipefail
venv=${1:-.venv}
top=$(cd "$(dirname "$0")/.." && pwd)
stamp="$venv/.classics-installed"
# The install compiles word2vec's training op (setup.py), so its source counts too.
lock_sum=$(cat "$top/requirements.lock" "$top/pyproject.toml" "$top/setup.py" \
  "$top/trainer/word2vec/fused_kernels.cc" | sha256sum | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_sum" && -x "$venv/bin/python" ]]; then
  exit 0  # environment already matches the lock file
fi

command -v g++ >/dev/null 2>&1 || {
  echo "error: g++ not found: installing this package compiles word2vec's training op" >&2
  echo "       (trainer/word2vec/fused_kernels.cc). Install a C++ compiler (Debian: apt-get" >&2
  echo "       install g++) and run setup again." >&2
  exit 1
}

is_py310() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${PYTHON:-}" python3.10 python3 python; do
    [[ -n "$c" ]] || continue
    if command -v "$c" >/dev/null 2>&1 && is_py310 "$(command -v "$c")"; then
      command -v "$c"; return 0
    fi
  done
  local roots=()
  command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
  for r in "${roots[@]}"; do
    for c in $(ls -d "$r"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r); do
      if is_py310 "$c"; then echo "$c"; return 0; fi
    done
  done
  return 1
}

if ! py=$(find_python); then
  echo "error: Python 3.10 not found (TFX 1.16 needs Python 3.10)." >&2
  echo "       Looked on PATH (python3.10, python3, python) and in pyenv's versions folder." >&2
  echo "       Install it (e.g. 'pyenv install 3.10') or set PYTHON=/path/to/python3.10." >&2
  exit 1
fi
echo "setup: using $py ($("$py" --version 2>&1))"

if [[ -x "$venv/bin/python" ]] && ! is_py310 "$venv/bin/python"; then
  echo "setup: $venv is not Python 3.10; recreating it"; rm -rf "$venv"
fi
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
# Some machines' pip config names local wheel folders that may not exist: hide that noise.
pip_install() { "$venv/bin/python" -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }
pip_install --upgrade "pip==24.2" "setuptools==75.1.0" wheel
# The lock is a full freeze, so --no-deps keeps pip from re-resolving to newer Beam etc.
pip_install --no-deps -r "$top/requirements.lock"
pip_install --no-deps --no-build-isolation -e "$top"
# A reused venv may hold packages an earlier lock had: the venv is made the lock again.
extra=$("$venv/bin/python" "$top/scripts/lock_orphans.py" "$top/requirements.lock")
if [[ -n "$extra" ]]; then
  echo "setup: removing what requirements.lock no longer holds: $extra"
  "$venv/bin/python" -m pip uninstall --quiet -y $extra
fi
"$venv/bin/python" -m pip check
echo "$lock_sum" > "$stamp"
echo "setup: environment ready in $venv"
