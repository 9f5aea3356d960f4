#!/usr/bin/env bash
# Build the desktop bundle with PyInstaller (packaging/studio.spec), on the OS you want it for.
#
#   bash packaging/build_bundle.sh
#
# Result: dist/local-llm-studio/ (run dist/local-llm-studio/local-llm-studio), plus
# "dist/Local LLM Studio.app" on macOS. llama.cpp is built the way bootstrap.sh built it, so
# CMAKE_ARGS="-DGGML_CUDA=on" bash packaging/build_bundle.sh gives a CUDA bundle.
# STUDIO_SKIP_SMOKE=1 skips the final check that the bundle answers a chat with the starter model.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
say() { printf '==> %s\n' "$*"; }
die() { printf '==> error: %s\n' "$*" >&2; exit 1; }

bash packaging/bootstrap.sh setup

case "$(uname -s)" in
    MINGW* | MSYS* | CYGWIN*) VPY=.venv/Scripts/python.exe; EXE=.exe ;;
    *) VPY=.venv/bin/python; EXE= ;;
esac

say "Installing the [package] extra (PyInstaller)"
"$VPY" -m pip install --disable-pip-version-check --quiet -e ".[package]"

if [[ ! -f resources/icons/local-llm-studio.png ]]; then
    "$VPY" packaging/render_icons.py
fi

say "Running PyInstaller (a few minutes)"
START=$SECONDS
"$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/studio.spec
DIST="dist/local-llm-studio"
[[ -x "$DIST/studio$EXE" ]] || die "PyInstaller finished but $DIST/studio$EXE is missing"
say "Bundle built in $((SECONDS - START)) s: $DIST ($(du -sh "$DIST" | cut -f1))"

if [[ "${STUDIO_SKIP_SMOKE:-}" != 1 ]]; then
    say "Smoke test: the bundled CLI and engine worker answer with the starter model"
    "$DIST/studio$EXE" --help >/dev/null || die "the bundle does not start: $DIST/studio$EXE --help failed"
    model="$("$VPY" -m studio.core.models.starter | tail -n1)"
    home="$(mktemp -d)"
    trap 'rm -rf "$home"' EXIT
    STUDIO_HOME="$home" "$DIST/studio$EXE" chat --model "$model" --prompt "Say hi." \
        --max-tokens 8 --seed 1 --json >/dev/null || die "the bundled app could not chat with $model"
    say "Smoke test passed"
fi

say "Run it: $DIST/local-llm-studio$EXE   (Linux menu entry: bash packaging/install-desktop-entry.sh --exec $PWD/$DIST/local-llm-studio)"
