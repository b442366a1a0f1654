#!/usr/bin/env bash
# Installs what the service needs: system packages (through apt-get when it can),
# the Python virtual environment and the front-end packages.
# Usage: scripts/setup.sh run|test   ("test" adds redis-server, chromium and firefox-esr).
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-run}"
PYTHON="${PYTHON:-python3}"

# command -> Debian package
declare -A need=([ffmpeg]=ffmpeg [ffprobe]=ffmpeg [npm]=npm [node]=nodejs)
if [ "$purpose" = "test" ]; then
    need[redis-server]=redis-server
    need[chromium]=chromium
    need[firefox-esr]=firefox-esr
    need[ip]=iproute2  # network namespaces of the tests/net harness (ip netns, tc tbf)
    need[tc]=iproute2
    need[espeak-ng]=espeak-ng  # speech for the audio-under-loss benchmark (tests/bench)
fi

missing=()
for cmd in "${!need[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ "$purpose" = "test" ]; then
    # The IP camera tests' RTSP server: gst-rtsp-server fed x264enc, run by Debian's python3.
    if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' \
        >/dev/null 2>&1 || ! compgen -G '/usr/lib/*/gstreamer-1.0/libgstx264.so' >/dev/null; then
        missing+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
            gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)
    fi
    # The WHIP tests' hardware-like encoder: GStreamer's webrtcbin (with libnice for ICE).
    if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstWebRTC", "1.0")' \
        >/dev/null 2>&1 || ! compgen -G '/usr/lib/*/gstreamer-1.0/libgstnice.so' >/dev/null; then
        missing+=(python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-bad
            gstreamer1.0-nice gstreamer1.0-plugins-base gstreamer1.0-plugins-ugly)
    fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "setup: installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -q
        $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "setup: cannot install system packages here; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit("setup: Python 3.11 or newer is needed, found " + sys.version.split()[0])
PY

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.stamp-install
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python packages"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    echo "setup: installing front-end packages"
    # --include=dev: typescript, for the JSDoc type check of `make test`, even under NODE_ENV=production.
    npm ci --include=dev --no-audit --no-fund --loglevel=error
    touch node_modules
fi
echo "setup: ready ($purpose)"
