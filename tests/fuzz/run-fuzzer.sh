#!/bin/sh
# run-fuzzer.sh - runs one libFuzzer target of tests/fuzz/ for a time budget
# on its working corpus and reports how many inputs it executed; or, with
# --summary, prints the table of the last runs.  Called by tests/fuzz/fuzz.mk.
#
#   run-fuzzer.sh NAME SECONDS FUZZDIR [libFuzzer flags...]
#   run-fuzzer.sh --summary FUZZDIR NAME...
#
# The working corpus FUZZDIR/corpus/NAME starts as a copy of the seeds in
# tests/fuzz/corpus/NAME and keeps what earlier runs added (delete it to
# start over).  The log goes to FUZZDIR/logs/NAME.log, crashing inputs to
# FUZZDIR/artifacts/NAME/.  Exits non-zero if libFuzzer found a crash, a
# leak, a timeout or an out-of-memory, or did not run at all.
set -u

if [ "${1:-}" = --summary ]; then
    dir=$2
    shift 2
    printf '%-18s %14s %8s\n' fuzzer executions seconds
    for name in "$@"; do
        printf '%-18s %14s %8s\n' "fuzz_$name" \
            "$(cat "$dir/logs/$name.execs" 2>/dev/null || echo -)" \
            "$(cat "$dir/logs/$name.seconds" 2>/dev/null || echo -)"
    done
    exit 0
fi

if [ $# -lt 3 ]; then
    echo "usage: $0 NAME SECONDS FUZZDIR [flags...] | --summary FUZZDIR NAME..." >&2
    exit 2
fi
name=$1
seconds=$2
dir=$3
shift 3

here=$(dirname "$0")
bin=$dir/fuzz_$name
corpus=$dir/corpus/$name
artifacts=$dir/artifacts/$name
log=$dir/logs/$name.log

mkdir -p "$corpus" "$artifacts" "$dir/logs"
if [ -d "$here/corpus/$name" ]; then
    cp -R "$here/corpus/$name/." "$corpus/"
fi
set --  -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$artifacts/" "$@"
if [ -f "$here/$name.dict" ]; then
    set -- -dict="$here/$name.dict" "$@"
fi

start=$dir/logs/$name.start
: >"$start"
"$bin" "$@" "$corpus" >"$log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "${execs:-?}" >"$dir/logs/$name.execs"
echo "$seconds" >"$dir/logs/$name.seconds"

if [ $rc -ne 0 ] || [ -z "$execs" ]; then
    echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} executions; log: $log"
    grep -m 3 -E '^==[0-9]+== ?ERROR|fuzz invariant failed|runtime error|^SUMMARY' \
        "$log" | sed 's/^/    /'
    find "$artifacts" -type f -newer "$start" | sed 's/^/    input: /'
    exit 1
fi
echo "fuzz_$name: $execs executions in ${seconds}s," \
    "$(ls "$corpus" | wc -l) corpus inputs, no crash"
