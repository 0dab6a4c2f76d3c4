#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time from a seed corpus; exits non-zero when any of
# them finds a crash, a sanitizer error, an escaped exception, a timeout (hang) or runs out of
# memory. Crashing inputs are kept under BUILD_DIR/fuzz-artifacts/ to reproduce with
#   BUILD_DIR/fuzz_NAME BUILD_DIR/fuzz-artifacts/NAME-crash-...
# usage: tests/fuzz/run.sh [BUILD_DIR (build/fuzz)] [SECONDS_PER_HARNESS (20)]   (from the repo root)
set -u
build=${1:-build/fuzz}
secs=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts"

# Seeds: the shipped manifests and packs, and a certificate and an audit log made by the CLI.
seed() { local name=$1; shift; mkdir -p "$work/$name"; cp "$@" "$work/$name/"; }
seed manifest models/deployments/*.json
seed pack models/policy/*.json
seed certificate tests/data/policy/*.cert
seed log tests/data/policy/*.log

status=0
for name in manifest pack certificate log; do
  exe="$build/fuzz_$name"
  if [ ! -x "$exe" ]; then
    echo "FAIL $name: $exe is missing (build the stacklab-fuzzers target with -DSTACKLAB_FUZZ=ON)"
    status=1
    continue
  fi
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: runaway memory is a failure.
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$name-" "$work/$name" >"$work/$name.out" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.out")
  if [ $rc -eq 0 ]; then
    echo "ok   $name: ${runs:-?} inputs in ${secs} s, no crash"
  else
    echo "FAIL $name: exit $rc after ${runs:-?} inputs"
    grep -E 'ERROR|SUMMARY|terminate|what\(\)|Test unit written' "$work/$name.out" | head -20
    status=1
  fi
done
exit $status
