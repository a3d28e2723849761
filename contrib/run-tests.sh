#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint checks, unit tests and the
# integration tests that start the real binaries on temporary datadirs.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh --test
# A whole-suite run gains nothing from incremental builds and they take
# gigabytes of disk; free space is printed because a full disk shows up as a
# linker crash (SIGBUS), not as a clear message.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "run-tests: free disk space where the build goes:"
df -h "${CARGO_TARGET_DIR:-target}" 2>/dev/null || df -h .
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Known vulnerabilities in the dependency tree (RustSec; see the script).
contrib/audit.sh
cargo test --all-targets --locked
# Every fuzz target for a minute in total; fails on any crash (fuzz/README.md).
contrib/fuzz-smoke.sh
