#!/usr/bin/env bash
# The Blenders the add-on's tests run in (idempotent; downloads cached under ~/.cache/frameloom):
# Debian's blender 3.4.1 (system Python 3.11, the legacy `sequences` API) and PyPI's bpy 5.0.1
# in its own Python 3.11 venv (the `strips` API).
set -euo pipefail
CACHE="${FRAMELOOM_CACHE:-$HOME/.cache/frameloom}"
VENV="$CACHE/venv-bpy"
export DEBIAN_FRONTEND=noninteractive
if ! command -v blender >/dev/null || ! command -v xvfb-run >/dev/null; then
    apt-get update -qq
    apt-get install -y -q blender xvfb >/dev/null     # xvfb: the modal operator's window test
fi
if ! "$VENV/bin/python" -c "import bpy" >/dev/null 2>&1; then
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    if ! python3.11 -m venv "$VENV" 2>/dev/null; then
        apt-get install -y -q python3.11-venv >/dev/null
        /usr/bin/python3.11 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --cache-dir "$CACHE/pip" bpy==5.0.1
fi
