#!/usr/bin/env bash
# CI smoke test for the fuzz targets in fuzz/: builds every target once, then
# runs each one from `cargo fuzz list` for an equal share of FUZZ_SMOKE_SECONDS
# (default 60) starting from its seed corpus in fuzz/corpus/<target>/. Fails
# on the first crash, panic, leak or timeout; libFuzzer then names the input in
# fuzz/artifacts/<target>/, which `cargo fuzz run <target> <file>` replays.
#
# New inputs found during the run go to a temporary directory, so the
# committed seed corpora stay as they are. The toolchain is stable, so
# cargo-fuzz's nightly-only flags are allowed with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
total=${FUZZ_SMOKE_SECONDS:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fuzz build
mapfile -t targets < <(cargo fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no targets" >&2
    exit 1
fi
per=$(( total / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    echo "fuzz-smoke: $t for ${per}s"
    corpora=("$work/$t")
    mkdir -p "$work/$t"
    [ -d "corpus/$t" ] && corpora+=("corpus/$t")
    extra=()
    [[ $t == ipc_* ]] && extra+=(-dict=dict/ipc.dict)
    cargo fuzz run "$t" "${corpora[@]}" -- -max_total_time="$per" -timeout=10 -print_final_stats=1 "${extra[@]}" 2>"$work/$t.log" || {
        tail -n 60 "$work/$t.log" >&2
        echo "fuzz-smoke: $t failed" >&2
        exit 1
    }
    grep -E '^stat::number_of_executed_units|^Done' "$work/$t.log" || true
done
echo "fuzz-smoke: ${#targets[@]} targets, ${per}s each, no crashes"
