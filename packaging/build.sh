#!/usr/bin/env bash
# Build the Linux distributable: dist/grit-desktop/ (one folder, run dist/grit-desktop/grit-desktop)
# and dist/grit-desktop-<version>-linux-<arch>.tar.gz, plus the matching source archive that the
# AGPL asks to be offered with it (dist/grit-desktop-<version>-source.tar.gz).
#
#   bash packaging/build.sh
#
# Uses the project's virtual environment (GRIT_VENV, default .venv; set up by scripts/bootstrap.sh
# when missing), so the bundle holds exactly the torch that is installed there: a CPU-only torch
# gives a bundle of about 1.5 GB, a CUDA torch several GB more.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=${GRIT_VENV:-$root/.venv}
py="$venv/bin/python"
say() { printf 'build: %s\n' "$*" >&2; }

# Pinned so that a rebuild of the same commit bundles the same way.
PYINSTALLER=pyinstaller==6.22.3
HOOKS=pyinstaller-hooks-contrib==2026.9

if [ ! -x "$venv/bin/grit-desktop" ]; then
  say "no app in $venv yet: setting it up first"
  "$root/scripts/bootstrap.sh"
fi
if ! "$py" -m pip show -q pyinstaller >/dev/null 2>&1 \
   || [ "$("$py" -c 'import PyInstaller; print(PyInstaller.__version__)')" != "${PYINSTALLER#*==}" ]; then
  say "installing $PYINSTALLER into $venv"
  "$py" -m pip install --disable-pip-version-check -q "$PYINSTALLER" "$HOOKS"
fi

version=$("$py" -c 'import grit_desktop; print(grit_desktop.__version__)')
arch=$(uname -m)
say "building grit-desktop $version for linux-$arch (several minutes; build/ and dist/ hold a few GB)"
"$py" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" "$root/packaging/grit-desktop.spec"

app="$root/dist/grit-desktop"
# The licence travels with the binaries, with a note on where the source is.
cp LICENSE "$app/LICENSE"
cp README.md "$app/README.md"
cp packaging/install-desktop-entry.sh "$app/install-desktop-entry.sh"
cat > "$app/SOURCE.txt" <<EOF
grit-desktop $version is free software under the GNU Affero General Public License, version 3 or
later (see LICENSE). Its complete corresponding source code is distributed alongside this build as
grit-desktop-$version-source.tar.gz; whoever gave you this build must also give you that source.
EOF

say "checking the build starts"
"$app/grit-desktop" --version
"$app/grit-desktop" --pdf-reader </dev/null

tarball="$root/dist/grit-desktop-$version-linux-$arch.tar.gz"
say "packing $tarball"
if command -v pigz >/dev/null; then
  tar -C "$root/dist" -cf - grit-desktop | pigz > "$tarball"
else
  tar -C "$root/dist" -czf "$tarball" grit-desktop
fi

# The source that this build was made from: the committed tree (HEAD). Uncommitted changes are
# not in it, so say so.
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$root" archive --format=tar.gz --prefix="grit-desktop-$version/" \
    -o "$root/dist/grit-desktop-$version-source.tar.gz" HEAD
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    say "warning: the working tree has uncommitted changes; the source archive holds HEAD only"
  fi
else
  say "warning: not a git checkout, no source archive made; ship the source with the build yourself"
fi

say "done: $app ($(du -sh "$app" | cut -f1)), $(basename "$tarball") ($(du -sh "$tarball" | cut -f1))"
