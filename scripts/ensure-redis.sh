#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH (the headcount-redis and headcount-cli tests
# and benchmarks start their own server with it). Installs the Debian package
# `redis-server` with apt-get when it is missing; fails loudly when it cannot.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "ensure-redis: $(redis-server --version)"
    exit 0
fi

echo "ensure-redis: redis-server not found; installing the Debian package redis-server" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: FAILED: apt-get is not available; install redis-server (>= 6.2) by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ensure-redis: FAILED: not root and no sudo; cannot install redis-server" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends redis-server; }; then
    echo "ensure-redis: FAILED: apt-get could not install redis-server" >&2
    exit 1
fi
# The package may start a system service on port 6379; the tests do not use it.
if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure-redis: FAILED: redis-server still not on PATH after installing" >&2
    exit 1
fi
echo "ensure-redis: installed $(redis-server --version)"
