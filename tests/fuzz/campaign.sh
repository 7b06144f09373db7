#!/bin/bash
# A fuzzing campaign: builds every libFuzzer target (clang, ASan+UBSan, its own build directory) and runs
# each for SECONDS, one after the other under `nice`, printing executions and findings per target.
#
#   tests/fuzz/campaign.sh SECONDS [TARGET...]     (TARGET: manifest, kube, ... ; default: all of them)
#
# The targets are every tests/fuzz/fuzz_*.c (CMakeLists.txt makes a libFuzzer binary of each, declared or
# not). Each run starts from tests/fuzz/corpus/<target> (read only) and grows a working
# corpus in $FUZZ_BUILD/campaign/<target>/corpus; findings (crash-*, leak-*, timeout-*, oom-*) are written
# to $FUZZ_BUILD/campaign/<target>/findings/. Environment:
#   FUZZ_BUILD  the build directory [build-fuzz at the top of the tree]
#   FUZZ_RUNS   also stop a target after this many executions (e.g. 1000000)
#   FUZZ_MERGE  1: afterwards, minimise into tests/fuzz/corpus/<target>: its named inputs (seeds,
#               regression-*) stay, and of the rest (old and new) only what adds coverage (-merge=1)
# Needs clang (Debian: apt-get install clang). Exit status: 0 when no target found anything.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/fuzz
secs=${1:-}
if [[ ! $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
  echo "usage: $0 SECONDS [TARGET...]" >&2
  exit 2
fi
shift
build=${FUZZ_BUILD:-$top/build-fuzz}
runs=${FUZZ_RUNS:-}

if (($# > 0)); then
  targets=("$@")
else
  targets=()
  for f in "$here"/fuzz_*.c; do
    t=${f##*/fuzz_}
    targets+=("${t%.c}")
  done
fi

command -v clang >/dev/null || { echo "campaign: clang is needed (apt-get install clang)" >&2; exit 2; }
CC=clang cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUBELET_FUZZ=ON >/dev/null
for t in "${targets[@]}"; do
  nice -n 10 cmake --build "$build" -j 2 --target "fuzz_$t" >/dev/null ||
    { echo "campaign: fuzz_$t does not build (is it declared with cubelet_fuzz_target?)" >&2; exit 2; }
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
bad=0
summary=()
for t in "${targets[@]}"; do
  bin=$(find "$build/tests/fuzz" -maxdepth 1 -name "fuzz_$t" -type f -executable)
  work=$build/campaign/$t
  mkdir -p "$work/corpus" "$work/findings" "$here/corpus/$t"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/findings/")
  [[ -n $runs ]] && args+=(-runs="$runs")
  [[ -f $here/$t.dict ]] && args+=(-dict="$here/$t.dict")
  # <target>.options: more libFuzzer flags, e.g. -close_fd_mask=2 for a target whose code logs a lot
  # (crash reports still show; the target's own stderr does not).
  [[ -f $here/$t.options ]] && read -r -a more <"$here/$t.options" && args+=("${more[@]}")
  before=$(find "$work/findings" -type f | wc -l)
  echo "== fuzz_$t: ${secs}s${runs:+ or $runs runs}" >&2
  set +e
  nice -n 10 "$bin" "${args[@]}" "$work/corpus" "$here/corpus/$t" >"$work/log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  found=$(($(find "$work/findings" -type f | wc -l) - before))
  if ((rc != 0 || found > 0)); then
    bad=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/log" | head -5 >&2 || true
  fi
  summary+=("$(printf '%-14s %12s executions  %d findings%s' "$t" "${execs:-?}" "$found" \
    "$( ((rc != 0)) && echo " (exit $rc; see $work/log)")")")
  if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
    # The named inputs (seeds, regression-*) stay; the machine's (named by their SHA-1) are replaced by
    # those of the old corpus and the run that bring coverage the named ones lack (libFuzzer -merge=1).
    fresh=$work/merged
    hashed='.*/[0-9a-f]{40}'
    rm -rf "$fresh"
    mkdir -p "$fresh"
    find "$here/corpus/$t" -maxdepth 1 -regextype posix-extended -type f ! -regex "$hashed" -exec cp -t "$fresh" {} +
    if nice -n 10 "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$fresh" "$here/corpus/$t" "$work/corpus" \
      >"$work/merge.log" 2>&1; then
      find "$here/corpus/$t" -maxdepth 1 -regextype posix-extended -type f -regex "$hashed" -delete
      find "$fresh" -maxdepth 1 -regextype posix-extended -type f -regex "$hashed" -exec cp -t "$here/corpus/$t" {} +
      echo "campaign: corpus/$t now holds $(find "$here/corpus/$t" -type f | wc -l) inputs" >&2
    else
      echo "campaign: merge of $t failed (see $work/merge.log)" >&2
    fi
  fi
done
printf '%s\n' "${summary[@]}"
exit $bad
