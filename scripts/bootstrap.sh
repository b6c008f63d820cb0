#!/usr/bin/env bash
# Set up everything grit-desktop needs on a Debian/Ubuntu machine with python3, idempotently:
# Qt's system libraries, a virtual environment in .venv, PyTorch, the app (and, with --test,
# the test tools). A second run with nothing changed takes about a second.
#
#   scripts/bootstrap.sh [--test]
#
# Environment: GRIT_VENV (default .venv), GRIT_TORCH (the torch requirement, default torch==2.13.0;
# pip's own PIP_INDEX_URL / PIP_EXTRA_INDEX_URL choose where wheels come from, e.g. PyTorch's
# CPU-only index on a machine without an NVIDIA GPU).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
venv=${GRIT_VENV:-$root/.venv}
torch_req=${GRIT_TORCH:-torch==2.13.0}
say() { printf 'bootstrap: %s\n' "$*" >&2; }

# Qt (PySide6) needs these to import and draw, offscreen or in a window; Xvfb gives tests and
# screenshots a real X display on a machine without one.
system_packages=(libglib2.0-0 libgl1 libxkbcommon0 libegl1 libfreetype6 libfontconfig1 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libnss3 libxrandr2 libxcomposite1
  libxdamage1 libxtst6 fonts-dejavu-core xvfb xauth python3-venv
  tesseract-ocr-eng)  # Tesseract's English data: PyMuPDF's built-in OCR reads scanned pages with it

install_system_packages() {
  command -v dpkg-query >/dev/null || { say "not a Debian-like system: install Qt's libraries yourself"; return 0; }
  local missing=()
  for p in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "missing system packages and no sudo: ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  # python3-venv is named after the minor version on some releases; apt resolves the generic one.
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {
  if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtual environment $venv"
    python3 -m venv "$venv"
  fi
}

requirements_hash() {
  { cat pyproject.toml; echo "$torch_req test=$1"; } | sha256sum | cut -d' ' -f1
}

# Reinstall only when what we ask for changed: a stamp holds a hash of the requirements.
pip_install() {
  # A test installation holds everything the app needs, so it also satisfies a plain run: switching
  # between scripts/test.sh and scripts/run.sh installs nothing.
  local stamp="$venv/.grit-stamp" want with_tests have=""
  want=$(requirements_hash "$want_test")
  with_tests=$(requirements_hash 1)
  [ -f "$stamp" ] && have=$(cat "$stamp")
  [ -n "$have" ] && { [ "$have" = "$want" ] || [ "$have" = "$with_tests" ]; } && return 0
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  say "installing Python packages into $venv (first time: a few minutes)"
  "${pip[@]}" install --upgrade pip setuptools wheel 2>&1 | grep -v "is ignored" || true
  if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    "${pip[@]}" install "$torch_req" 2>&1 | grep -v "is ignored" || true
    "$venv/bin/python" -c "import torch" || { say "PyTorch did not install"; exit 1; }
  fi
  local extras=""
  [ $want_test -eq 1 ] && extras="[test]"
  "${pip[@]}" install -e ".$extras" 2>&1 | grep -v "is ignored" || true
  if [ $want_test -eq 1 ]; then
    # The GRIT reference implementation, used by the tests as an oracle (its declared
    # dependencies datasets, wandb and mteb are not needed to import it), and mistral-common,
    # whose data folder holds the Mistral-7B tokenizer that GritLM-7B uses (only that file is
    # read, so none of its dependencies are needed).
    "${pip[@]}" install --no-deps gritlm==1.0.2 mistral-common==1.13.1 2>&1 | grep -v "is ignored" || true
  fi
  "$venv/bin/python" -c "import grit_desktop, torch, transformers, lancedb, pymupdf, PySide6" \
    || { say "the installation is incomplete"; exit 1; }
  echo "$want" > "$stamp"
}

install_system_packages
make_venv
pip_install
