#!/usr/bin/env bash
# After `ctest --test-dir BUILD_DIR`: fails when a test skipped that this machine can run. The only accepted
# reason to skip is a CPU feature the machine lacks, written in the skip message as "this CPU lacks FLAG" (FLAG
# as /proc/cpuinfo spells it), and only when /proc/cpuinfo really lacks it. Any other skip (a missing program,
# package or file) is an install step that did not happen: a hole in the testing, so it fails here.
#   scripts/check-skips.sh [BUILD_DIR=build]
set -euo pipefail
LOG=${1:-build}/Testing/Temporary/LastTest.log
[ -s "$LOG" ] || { echo "check-skips: $LOG not found: run ctest first" >&2; exit 2; }
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
# One line per skipped test: "NAME<TAB>MESSAGE" (gtest prints "FILE:LINE: Skipped", then the message).
skips=$(awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $3; grab = 0; msg = ""; next }
  grab == 1 { msg = $0; grab = 2; next }
  / Skipped$/ && name != "" { grab = 1; next }
  /^\[  SKIPPED \] / && name != "" { print name "\t" (msg == "" ? "(no message)" : msg); name = ""; msg = "" }
' "$LOG")
ran=$(grep -c '^[0-9]*/[0-9]* Test: ' "$LOG" || true)
bad=0 accepted=0
while IFS=$'\t' read -r name msg; do
  [ -n "$name" ] || continue
  flag=$(sed -nE 's/.*this CPU lacks ([a-z0-9_]+).*/\1/p' <<<"$msg")
  if [ -n "$flag" ] && [[ "$FLAGS" != *" $flag "* ]]; then
    accepted=$((accepted + 1)); echo "check-skips: skipped (CPU lacks $flag): $name"
  else
    bad=$((bad + 1)); echo "check-skips: FAIL: $name skipped on a machine that can run it: $msg" >&2
  fi
done <<<"$skips"
echo "check-skips: $ran tests, $accepted skipped for a missing CPU flag, $bad skipped without reason"
[ "$ran" -gt 0 ] || { echo "check-skips: no test ran" >&2; exit 1; }
[ $bad -eq 0 ]
