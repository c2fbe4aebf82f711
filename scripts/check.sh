#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls this script; so does the README).
#
#   bash scripts/check.sh            # everything
#   QUICK=1 bash scripts/check.sh    # skip Miri (the slowest step)
#
# Installs what it needs (redis-server, redis-cli, redis-sentinel and openssl through
# scripts/ensure-redis.sh; Go; the nightly Miri component) and fails loudly when it
# cannot. Steps: fmt, clippy (-D warnings), all tests and doctests (every feature, the
# core without features, headcount-redis without TLS), the docs (-D warnings, and as docs.rs builds them), the packages
# (`cargo publish --dry-run`), the core on its minimum supported Rust version, the loom models,
# Miri over the core, the benchmark tool's smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }
export CARGO_TERM_COLOR=never

step "tools"
if [ -x scripts/ensure-redis.sh ] || [ -f scripts/ensure-redis.sh ]; then
  bash scripts/ensure-redis.sh
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go not found: installing golang-go for the side-by-side benchmarks"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go) \
    || echo "warning: could not install Go; the Go rows will say 'not run'"
fi

step "fmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p headcount --all-targets -- -D warnings

step "tests (all features)"
cargo test --workspace --all-features

step "examples (each asserts its own claims)"
for example in crates/headcount/examples/*.rs; do
  name=$(basename "$example" .rs)
  echo "--- example $name"
  cargo run -q -p headcount --all-features --example "$name" > /dev/null
done

step "tests (core, no features)"
cargo test -p headcount --lib --tests

step "headcount-redis without TLS (clippy, every target that needs no TLS built, the unit tests)"
cargo clippy -p headcount-redis --all-targets --no-default-features -- -D warnings
cargo test -p headcount-redis --no-default-features --lib
cargo test -p headcount-redis --no-default-features --no-run

step "docs (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps 2>&1 | tee target/doc.log
# Cargo only warns when two crates write the same page (the `headcount` binary over the
# `headcount` library): here it is an error.
if grep -q "output filename collision" target/doc.log; then
  echo "docs: two targets write the same documentation (set \`doc = false\` on the binary)" >&2
  exit 1
fi
# As docs.rs builds them: every feature, `--cfg docsrs` for the feature badges (nightly).
if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR=target/docsrs \
  cargo +nightly doc -p headcount --all-features --no-deps

step "packages (cargo publish --dry-run, every publishable crate)"
# The dry run unpacks each workspace package into Cargo's registry cache under a name keyed by
# this checkout's path and the version, and reuses an unpacked copy left by an earlier run from
# the same path: the crates would then be verified against stale sources of each other.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/headcount*
cargo publish --workspace --dry-run --allow-dirty

step "minimum supported Rust version (the core, with and without features)"
bash scripts/check-msrv.sh

step "cross-platform check (Windows, macOS, aarch64 Linux)"
for target in x86_64-pc-windows-gnu x86_64-apple-darwin aarch64-unknown-linux-gnu; do
  if rustup target list --installed | grep -qx "$target" || rustup target add "$target"; then
    CARGO_TARGET_DIR=target/cross cargo check -p headcount --lib --target "$target"
  else
    echo "warning: the standard library for $target cannot be installed here; not checked"
  fi
done

step "loom models"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
  cargo test -p headcount --release --test loom

if [ -z "${QUICK:-}" ]; then
  step "miri"
  if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add --toolchain nightly miri rust-src
  fi
  cargo +nightly miri --version
  # Every test file of the core and of the thread groups runs here, except group_threads
  # (it counts OS threads in /proc/self/task: Miri's threads are not OS threads) and the
  # loom models. The tokio task groups need the feature, and take a few minutes.
  CARGO_TARGET_DIR=target/miri MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" \
    cargo +nightly miri test -p headcount --lib --test wait_group --test async_wait --test alloc \
      --test group --test group_pool --test err_group --test results
  CARGO_TARGET_DIR=target/miri MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" \
    cargo +nightly miri test -p headcount --features tokio --test async_group
fi

if [ -f crates/headcount-bench/Cargo.toml ]; then
  step "benchmark tool smoke run"
  cargo run --release -p headcount-bench -- --smoke
fi

step "all checks passed"
