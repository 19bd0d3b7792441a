#!/usr/bin/env bash
# One-command, idempotent install of the full stack into .venv/ at the repo root.
#
# The expensive step is compiling mmcv 2.1.0 with its ops (~22 min on 2 cores): the built wheel
# is kept in $MMREFSEG_WHEELHOUSE (default ~/.cache/mmrefseg/wheels, outside git), so a second
# run on the same machine only verifies the environment.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMREFSEG_VENV:-$ROOT/.venv}"
WHEELHOUSE="${MMREFSEG_WHEELHOUSE:-$HOME/.cache/mmrefseg/wheels}"
PYTHON="${PYTHON:-python3}"
MMCV_VERSION=2.1.0
STAMP="$VENV/.mmrefseg-install-stamp"

log() { printf '[setup_env] %s\n' "$*"; }

# The stamp records the exact requirement files it was built from: any change re-runs pip.
requirements_digest() {
    cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

# The web demo's browser test (tests/test_demo/test_web_demo.py) drives Debian's Chromium through
# its chromedriver; installed system-wide, so checked on every run, before the venv's stamp.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        log "installing Debian's chromium and chromium-driver (for the browser test)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        log "warning: /usr/bin/chromium or /usr/bin/chromedriver is missing and this is not root:" \
            "install Debian's chromium and chromium-driver, or the browser test fails"
    fi
fi

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(requirements_digest)" ]] \
        && "$VENV/bin/python" -c "import mmcv.ops, mmseg.models, mmrefseg" 2>/dev/null; then
    log "environment in $VENV is up to date"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# No pip cache: a CUDA build of torch fetched from PyPI would take several GB twice (cache and
# venv) on a machine whose disk may be nearly full; the venv itself is what a re-run reuses.
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-cache-dir)
"${PIP[@]}" install -q --upgrade 'pip<26'
# torch 2.14.1 is a CUDA build (~5.5 GB installed): say so before pip fails with ENOSPC.
FREE_GB="$(df -Pk "$VENV" | awk 'NR == 2 {print int($4 / 1048576)}')"
if (( FREE_GB < 10 )); then
    log "warning: only ${FREE_GB} GB free on the disk of $VENV; the stack needs about 7 GB"
fi
"${PIP[@]}" install -q torch==2.14.1 torchvision==0.29.1

mkdir -p "$WHEELHOUSE"
if ! ls "$WHEELHOUSE"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION with ops (about 15-25 minutes on 2 cores)"
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
    BUILD_DIR="$(mktemp -d)"
    trap 'rm -rf "$BUILD_DIR"' EXIT
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD_DIR"
    tar -xzf "$BUILD_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD_DIR"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD_DIR/mmcv-$MMCV_VERSION/setup.py"
    (cd "$BUILD_DIR/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps . -w "$BUILD_DIR/dist")
    # Write under a temporary name first so an interrupted copy never looks like a wheel.
    WHEEL="$(ls "$BUILD_DIR"/dist/mmcv-*.whl)"
    cp "$WHEEL" "$WHEELHOUSE/$(basename "$WHEEL").part"
    mv "$WHEELHOUSE/$(basename "$WHEEL").part" "$WHEELHOUSE/$(basename "$WHEEL")"
fi

log "installing the stack"
"${PIP[@]}" install -q --find-links "$WHEELHOUSE" \
    -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
    -r "$ROOT/requirements/optional.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" -c "import mmcv.ops, mmseg.models, mmpretrain, open_clip, transformers, mmrefseg, gradio, selenium"
requirements_digest > "$STAMP"
log "done: $("$VENV/bin/python" -c 'import mmrefseg; print("mmrefseg", mmrefseg.__version__)')"
