#!/usr/bin/env bash
# Checks every dependency in Cargo.lock and fuzz/Cargo.lock against the RustSec advisory database
# with cargo-audit; fails on a known vulnerability. The database is a git
# repository on github.com. Where that is unreachable (CI's network reaches
# package registries only), set CARGO_AUDIT_DB to a local clone of
# https://github.com/rustsec/advisory-db; with neither, the check says so and
# is skipped rather than failing on the network.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${CARGO_AUDIT_DB:-}
if [ -z "$db" ] && ! timeout 20 git ls-remote -q https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    echo "audit: the RustSec advisory database (github.com) is unreachable and CARGO_AUDIT_DB is not set; skipped"
    exit 0
fi
cargo audit --version >/dev/null 2>&1 || cargo install cargo-audit --locked
args=()
[ -n "$db" ] && args+=(--db "$db" --no-fetch)
# The node's dependencies, then the fuzz crate's own lockfile.
cargo audit "${args[@]}"
cargo audit "${args[@]}" --file fuzz/Cargo.lock
