#!/usr/bin/env bash
# Checks the core crate on its declared minimum supported Rust version (`rust-version`), as a
# user of the published crate gets it: the packaged crate, in a temporary directory, with a
# lockfile resolved for that Rust version (the repository's own Cargo.lock is not touched).
#
#   bash scripts/check-msrv.sh
#
# Builds the core without features and with every feature.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
if [ -z "$msrv" ]; then
  echo "check-msrv: no rust-version in the workspace Cargo.toml" >&2
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' crates/headcount/Cargo.toml | head -n 1)
echo "core crate headcount $version, rust-version $msrv"

rustup toolchain install "$msrv" --profile minimal

cargo package -p headcount --no-verify --allow-dirty --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "target/package/headcount-$version.crate" -C "$work"
cd "$work/headcount-$version"

# The newest releases of some dependencies (tokio, tokio-util) need a newer Rust than ours:
# resolve to the newest releases that support the MSRV, as Cargo's MSRV-aware resolver does.
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
# Lockfile format 4 is only read by Cargo 1.78 and later; format 3 holds the same registry
# entries for every Cargo since 1.53.
sed -i 's/^version = 4$/version = 3/' Cargo.lock

export CARGO_TARGET_DIR="$root/target/msrv"
cargo "+$msrv" check --locked --lib
cargo "+$msrv" check --locked --lib --all-features
echo "check-msrv: headcount builds on Rust $msrv, with and without features"
