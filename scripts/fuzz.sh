#!/usr/bin/env bash
# Fuzzes the wire and model parsers: builds the libFuzzer harnesses of Fuzz/Targets (release,
# -sanitize=fuzzer,address, in .build-fuzz) and runs each for SECONDS (default 30) from a copy of its seed corpus
# (Fuzz/Corpus/<target>, with Fuzz/Dictionaries/<target>.dict when there is one). Fails when any harness crashes,
# whether on a sanitizer report, a trap or a violated invariant; the crashing inputs are kept and their paths printed.
#   scripts/fuzz.sh [SECONDS]
# Environment: FUZZ_TARGETS="fuzz-route fuzz-digest" runs only those; FUZZ_KEEP=1 keeps the working folder.
# A crash input replays without libFuzzer: swift build --product fuzz-route && .build/debug/fuzz-route CRASH_FILE
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

seconds=${1:-30}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 64; }

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<< "$FUZZ_TARGETS"
else
  targets=()
  for dir in Fuzz/Targets/*/; do targets+=("$(basename "$dir")"); done
fi
for t in "${targets[@]}"; do
  [ -d "Fuzz/Targets/$t" ] || { echo "fuzz: no target $t in Fuzz/Targets" >&2; exit 64; }
  [ -n "$(ls -A "Fuzz/Corpus/$t" 2>/dev/null)" ] || { echo "fuzz: no seed corpus in Fuzz/Corpus/$t" >&2; exit 1; }
done

# -sanitize=fuzzer adds libFuzzer and coverage instrumentation; BERTH_FUZZING makes the harnesses' main hand over
# to libFuzzer (FuzzDriver.swift). lld: gold fails with an internal error on the sanitizer runtimes.
build=(swift build --configuration release --scratch-path .build-fuzz
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DBERTH_FUZZING
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
echo "== fuzz: build (${#targets[@]} targets)"
start=$SECONDS
for t in "${targets[@]}"; do
  nice "${build[@]}" --product "$t"
done
bin=$("${build[@]}" --show-bin-path)
echo "fuzz: built in $((SECONDS - start))s"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz.XXXXXX")
cleanup() { if [ "${FUZZ_KEEP:-0}" = 1 ] || [ -n "$(ls -A "$work/crashes" 2>/dev/null)" ]; then echo "fuzz: working folder kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
mkdir -p "$work/crashes"

# The Swift runtime's backtracer would answer the trap before libFuzzer's deadly-signal handler writes the input.
export SWIFT_BACKTRACE=enable=no

crashed=()
for t in "${targets[@]}"; do
  case "$t" in
    fuzz-manifest) max_len=65536 ;;
    *) max_len=4096 ;;
  esac
  corpus="$work/corpus/$t"
  mkdir -p "$corpus"
  cp Fuzz/Corpus/"$t"/* "$corpus"/
  dict=()
  [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=("-dict=$top/Fuzz/Dictionaries/$t.dict")
  log="$work/$t.log"
  status=0
  # libFuzzer writes new inputs into the first corpus folder: the working copy, never Fuzz/Corpus.
  nice "$bin/$t" "$corpus" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -artifact_prefix="$work/crashes/$t-" -print_final_stats=1 > "$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $t ok: ${runs:-?} runs, ${speed:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
  else
    crashed+=("$t")
    echo "fuzz: $t FAILED (exit $status)"
    # The message (a violated invariant, a Swift runtime failure, a sanitizer report) and the first frames in Berth.
    { grep -E 'Fatal error|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|Swift runtime failure|SUMMARY' "$log" | head -4
      grep -E ' in .* [^ ]*/(Sources|Fuzz)/[^ ]*\.swift:' "$log" | head -2; } | sed 's/^/    /' || true
    inputs=$(ls "$work/crashes/$t-"* 2>/dev/null || true)
    if [ -n "$inputs" ]; then
      for f in $inputs; do echo "    crash input: $f"; done
    else
      tail -20 "$log" | sed 's/^/    /'
    fi
    echo "    log: $log"
  fi
done

echo "fuzz: ${#targets[@]} targets, ${#crashed[@]} crashes${crashed[*]:+ (${crashed[*]})}"
if [ ${#crashed[@]} -gt 0 ]; then
  FUZZ_KEEP=1
  exit 1
fi
