#!/usr/bin/env bash
# Add EdgeSlim to the desktop's application menu (current user only, no root needed).
# Shipped at the top of the bundle folder; run it from there once after unpacking:
#   ./install-desktop-entry.sh            install (or update after moving the folder)
#   ./install-desktop-entry.sh --remove   take the menu entry and icons away again
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor"
sizes=(16 24 32 48 64 128 256 512)

case "${1:-}" in
  -h|--help)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  --remove)
    rm -f "$apps/edgeslim.desktop" "$icons/scalable/apps/edgeslim.svg"
    for n in "${sizes[@]}"; do rm -f "$icons/${n}x${n}/apps/edgeslim.png"; done
    echo "EdgeSlim removed from the application menu (the folder $here is untouched)"
    exit 0 ;;
  "") ;;
  *) echo "install-desktop-entry.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac

[[ -x "$here/EdgeSlim" ]] || { echo "install-desktop-entry.sh: no EdgeSlim executable beside this script" >&2; exit 1; }
res="$here/_internal/resources/icons"
mkdir -p "$apps" "$icons/scalable/apps"
cp "$res/app.svg" "$icons/scalable/apps/edgeslim.svg"
for n in "${sizes[@]}"; do
  mkdir -p "$icons/${n}x${n}/apps"
  cp "$res/app-$n.png" "$icons/${n}x${n}/apps/edgeslim.png"
done
# the shipped entry names the executable; point it at this folder (quoted: the path may hold spaces)
sed -e "s|^Exec=.*|Exec=\"$here/EdgeSlim\"|" -e "s|^TryExec=.*|TryExec=$here/EdgeSlim|" \
  "$here/edgeslim.desktop" > "$apps/edgeslim.desktop"
chmod 644 "$apps/edgeslim.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$icons" 2>/dev/null || true
echo "EdgeSlim added to the application menu ($apps/edgeslim.desktop)"
