#!/usr/bin/env bash
# Installs what Crane needs on Debian/Ubuntu, only what is missing: the system packages for building and running the
# Tauri window, for the GUI tests (Xvfb, WebKitWebDriver, tauri-driver), and the tools the tests start themselves.
# Usage: scripts/setup.sh run|test
set -euo pipefail
mode="${1:-run}"

# `make package` and its test need only dpkg-deb, which comes with dpkg itself (always there where this script runs:
# it asks dpkg-query what is installed).
packages=(build-essential pkg-config libwebkit2gtk-4.1-dev)
if [ "$mode" = test ]; then
  # The test suite drives the real window under Xvfb and starts its own nginx/prometheus/alertmanager/docker-compose.
  # libnginx-mod-stream: `make bench` compares the tcp balancer with NGINX's stream module.
  packages+=(xvfb xauth webkit2gtk-driver docker-compose nginx libnginx-mod-stream wrk prometheus prometheus-alertmanager)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing missing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$mode" = test ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver (cargo install)"
  cargo install tauri-driver --locked --version 2.1.0
fi

# `make test` checks the window's ES modules with an ES2026 parser from PyPI (scripts/check_ui.py).
if [ "$mode" = test ] && ! python3 -c 'import esprima' >/dev/null 2>&1; then
  echo "setup: installing esprima-fork (pip) for scripts/check_ui.py"
  python3 -m pip install --quiet esprima-fork || python3 -m pip install --quiet --break-system-packages esprima-fork
fi

# `make test` checks formatting and lints first; rustup toolchains may come without those components.
if [ "$mode" = test ] && ! { cargo fmt --version && cargo clippy --version; } >/dev/null 2>&1; then
  echo "setup: installing the rustfmt and clippy components (rustup)"
  rustup component add rustfmt clippy
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: the Docker engine is not reachable (docker info failed)." >&2
  echo "       Crane runs apps on it: start Docker (systemctl start docker) or point DOCKER_HOST at Podman's socket." >&2
  [ "$mode" = test ] && exit 1
fi
exit 0
