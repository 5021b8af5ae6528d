#!/usr/bin/env bash
# Create (on demand) the separate venv holding the real anomalib from PyPI, and print its python.
#   PEER_VENV=/path  (default: <repo>/.peer-venv, git-ignored)   ~6 GB: torch is a CUDA build.
# Usage: PY=$(bash benchmarks/peer/venv.sh) && "$PY" benchmarks/peer/export_anomalib.py
# It is never installed in CI, nor in the project's own .venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PEER_VENV:-$root/.peer-venv}"
stamp="$venv/.peer-requirements"
if [[ "${CI:-}" == "true" ]]; then
    echo "benchmarks/peer/venv.sh: refusing to install the peer venv in CI" >&2
    exit 1
fi
want="torch==2.14.1 torchvision==0.29.1 $(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi
{
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    # torch first and alone, so that anomalib's open range (torch>=2.10) does not pick another build.
    "$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
    "$venv/bin/pip" install -q -r "$here/requirements.txt" torch==2.14.1 torchvision==0.29.1
    "$venv/bin/pip" freeze > "$venv/peer-freeze.txt"
} >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
