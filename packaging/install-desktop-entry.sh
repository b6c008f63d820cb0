#!/usr/bin/env bash
# Put grit-desktop in the desktop's application menu, for the current user only:
#   ~/.local/share/applications/grit-desktop.desktop        (Exec points at the app)
#   ~/.local/share/icons/hicolor/<N>x<N>/apps/grit-desktop.png, .../scalable/apps/grit-desktop.svg
#
#   bash packaging/install-desktop-entry.sh [PROGRAM]     install (again)
#   bash packaging/install-desktop-entry.sh --uninstall   remove what install put there
#
# PROGRAM defaults to the built app (dist/grit-desktop/grit-desktop) when there is one, else the
# virtual environment's .venv/bin/grit-desktop, else grit-desktop on PATH. The built folder has a
# copy of this script too (dist/grit-desktop/install-desktop-entry.sh, also in the tar.gz), which
# points the entry at the grit-desktop next to it. XDG_DATA_HOME is honoured (default
# ~/.local/share). Needs no root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Resources: the source tree's resources/, or those inside an unpacked build (_internal/resources).
if [ -d "$here/../resources/icons" ]; then
  resources=$(cd "$here/../resources" && pwd)
  root=$(cd "$here/.." && pwd)
elif [ -d "$here/_internal/resources/icons" ]; then
  resources="$here/_internal/resources"
  root="$here"
else
  echo "install-desktop-entry: cannot find the resources folder next to $here" >&2
  exit 1
fi
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
apps="$data_home/applications"
icons="$data_home/icons/hicolor"
sizes=(16 24 32 48 64 128 256 512)
say() { printf 'install-desktop-entry: %s\n' "$*" >&2; }

refresh() {
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$apps" || true
  fi
  if command -v gtk-update-icon-cache >/dev/null && [ -f "$icons/index.theme" ]; then
    gtk-update-icon-cache -q -t -f "$icons" || true
  fi
  touch "$icons" 2>/dev/null || true  # desktops watch the folder's time to reload icons
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/grit-desktop.desktop" "$icons/scalable/apps/grit-desktop.svg"
  for s in "${sizes[@]}"; do rm -f "$icons/${s}x${s}/apps/grit-desktop.png"; done
  refresh
  say "removed"
  exit 0
fi

program=${1:-}
if [ -z "$program" ]; then
  for candidate in "$root/dist/grit-desktop/grit-desktop" "$root/grit-desktop" "$root/.venv/bin/grit-desktop"; do
    if [ -x "$candidate" ] && [ -f "$candidate" ]; then program=$candidate; break; fi
  done
fi
if [ -z "$program" ]; then
  program=$(command -v grit-desktop || true)
fi
if [ -z "$program" ] || [ ! -x "$program" ]; then
  say "no grit-desktop program found; build it (bash packaging/build.sh) or pass its path"
  exit 1
fi
program=$(cd "$(dirname "$program")" && pwd)/$(basename "$program")

# The Exec value, quoted as the Desktop Entry spec asks when the path has reserved characters:
# inside double quotes, backslash-escape " ` $ \ ; and a literal % is written %%. (The file format
# then escapes each backslash once more.)
exec_program=$program
if [[ "$program" =~ [^A-Za-z0-9/._+-] ]]; then
  quoted=$(printf '%s' "$program" | sed -e 's/[\\"`$]/\\&/g' -e 's/%/%%/g' -e 's/\\/\\\\/g')
  exec_program="\"$quoted\""
fi

mkdir -p "$apps"
tmp=$(mktemp "$apps/.grit-desktop.XXXXXX")
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    Exec=*) printf 'Exec=%s %%F\n' "$exec_program" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$resources/grit-desktop.desktop" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$apps/grit-desktop.desktop"

for s in "${sizes[@]}"; do
  install -D -m 644 "$resources/icons/grit-desktop-$s.png" "$icons/${s}x${s}/apps/grit-desktop.png"
done
install -D -m 644 "$resources/icon.svg" "$icons/scalable/apps/grit-desktop.svg"
refresh
say "installed $apps/grit-desktop.desktop (Exec=$exec_program %F) and icons in $icons"
