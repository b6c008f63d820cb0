#!/usr/bin/env bash
# Set up (first time) and start grit-desktop. Arguments go to the app: `scripts/run.sh --help`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/bootstrap.sh"
exec "${GRIT_VENV:-$root/.venv}/bin/grit-desktop" "$@"
