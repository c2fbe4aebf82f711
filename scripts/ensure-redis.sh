#!/usr/bin/env bash
# Makes sure the tools the headcount-redis and headcount-cli tests and benchmarks
# use are on PATH: `redis-server` (they start their own servers, TLS and Redis
# Cluster included), `redis-cli` (to create a test cluster), `redis-sentinel` and
# `openssl` (test certificates). Installs the missing Debian packages (redis-server,
# redis-tools, redis-sentinel, openssl) with apt-get; fails loudly when it cannot.
set -euo pipefail

# tool -> Debian package
declare -A PACKAGE=(
    [redis-server]=redis-server
    [redis-cli]=redis-tools
    [redis-sentinel]=redis-sentinel
    [openssl]=openssl
)

missing=()
for tool in redis-server redis-cli redis-sentinel openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("${PACKAGE[$tool]}")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "ensure-redis: $(redis-server --version)"
    exit 0
fi

echo "ensure-redis: installing the Debian package(s) ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: FAILED: apt-get is not available; install ${missing[*]} (redis >= 6.2, built with TLS) by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ensure-redis: FAILED: not root and no sudo; cannot install ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "ensure-redis: FAILED: apt-get could not install ${missing[*]}" >&2
    exit 1
fi
# The packages may start system services (ports 6379, 26379); the tests do not use them.
for tool in redis-server redis-cli redis-sentinel openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ensure-redis: FAILED: $tool still not on PATH after installing" >&2
        exit 1
    fi
done
echo "ensure-redis: installed ${missing[*]}; $(redis-server --version)"
