#!/usr/bin/env bash
# Set up (first time) and run the test suite, offline, on the CPU. Arguments go to pytest,
# e.g. `scripts/test.sh -m "not slow"` or `scripts/test.sh tests/engine/test_model.py`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/bootstrap.sh" --test
cd "$root"
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "${GRIT_VENV:-$root/.venv}/bin/python" -m pytest "$@"
