#!/usr/bin/env bash
# Linux: add Local LLM Studio to the desktop's application menu, for the current user only.
#
#   bash packaging/install-desktop-entry.sh              use the venv's launcher (.venv/bin/local-llm-studio)
#   bash packaging/install-desktop-entry.sh --exec PATH  use another launcher (e.g. the PyInstaller bundle:
#                                                        dist/local-llm-studio/local-llm-studio)
#   bash packaging/install-desktop-entry.sh --uninstall  remove what this script installed
#
# Installs into ${XDG_DATA_HOME:-~/.local/share}: applications/local-llm-studio.desktop, the icon
# (hicolor scalable + 256 px), and the MIME types application/x-gguf (*.gguf) and application/jsonl
# (*.jsonl, where shared-mime-info lacks it) from packaging/linux/local-llm-studio-mime.xml. The
# desktop entry also lists the standard dataset types (JSON, CSV, TSV, plain text) for "Open with".
# Opening a file while the app runs hands it to the running window (one app at a time).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APP_ID=local-llm-studio
say() { printf '==> %s\n' "$*"; }
die() { printf '==> error: %s\n' "$*" >&2; exit 1; }

EXEC="$REPO/.venv/bin/local-llm-studio"
UNINSTALL=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --exec) [[ $# -ge 2 ]] || die "--exec needs a path"; EXEC="$2"; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

FILES=(
    "$DATA/applications/$APP_ID.desktop"
    "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
    "$DATA/icons/hicolor/256x256/apps/$APP_ID.png"
    "$DATA/icons/hicolor/scalable/mimetypes/application-x-gguf.svg"
    "$DATA/mime/packages/$APP_ID.xml"
)

refresh_caches() { # all optional: desktops also pick the files up on their own, just later
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA/applications" || true
    fi
    if command -v update-mime-database >/dev/null 2>&1 && [[ -d "$DATA/mime" ]]; then
        update-mime-database "$DATA/mime" >/dev/null 2>&1 || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [[ -f "$DATA/icons/hicolor/index.theme" ]]; then
        gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || true
    fi
    touch "$DATA/icons/hicolor" 2>/dev/null || true
}

if [[ $UNINSTALL == 1 ]]; then
    rm -f "${FILES[@]}"
    refresh_caches
    say "Removed the Local LLM Studio menu entry, icon and MIME type from $DATA"
    exit 0
fi

[[ "$(uname -s)" == Linux ]] || die "this installs a freedesktop menu entry (Linux); on macOS and Windows use the bundle from packaging/build_bundle.sh"
[[ "$EXEC" == /* ]] || EXEC="$PWD/$EXEC"
[[ -x "$EXEC" ]] || die "$EXEC not found or not executable. Run 'bash packaging/bootstrap.sh setup' first (or pass --exec PATH)"

mkdir -p "$DATA/applications" "$DATA/icons/hicolor/scalable/apps" "$DATA/icons/hicolor/256x256/apps" \
    "$DATA/icons/hicolor/scalable/mimetypes" "$DATA/mime/packages"

# Exec/TryExec get the launcher's absolute path, quoted per the Desktop Entry spec ( \ " ` $ escaped).
quoted="$(printf '%s' "$EXEC" | sed -e 's/[\\"`$]/\\\\&/g')"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
        Exec=*) printf 'Exec="%s" %%F\n' "$quoted"; printf 'TryExec=%s\n' "$EXEC" ;;
        TryExec=*) ;;
        *) printf '%s\n' "$line" ;;
    esac
done <"$REPO/resources/$APP_ID.desktop" >"$tmp"
install -m 644 "$tmp" "$DATA/applications/$APP_ID.desktop"

install -m 644 "$REPO/resources/icons/$APP_ID.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
install -m 644 "$REPO/resources/icons/$APP_ID.png" "$DATA/icons/hicolor/256x256/apps/$APP_ID.png"
install -m 644 "$REPO/resources/icons/$APP_ID.svg" "$DATA/icons/hicolor/scalable/mimetypes/application-x-gguf.svg"
install -m 644 "$REPO/packaging/linux/$APP_ID-mime.xml" "$DATA/mime/packages/$APP_ID.xml"
refresh_caches

say "Installed $DATA/applications/$APP_ID.desktop (runs $EXEC)"
say "Look for 'Local LLM Studio' in your application menu; .gguf and dataset files now offer it too."
say "Undo with: bash packaging/install-desktop-entry.sh --uninstall"
