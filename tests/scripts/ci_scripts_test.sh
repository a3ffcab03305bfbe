#!/usr/bin/env bash
# The CI scripts themselves: a README block whose first command fails must fail the fresh-root check, and a ctest
# run that found no test must not pass the skip check. (A CI run once "passed" with the fuzz build unconfigured:
# `cmake -B ... && cmake --build ...` failed in its first command, which bash -e does not stop at, and ctest then
# found no tests.)
#   tests/scripts/ci_scripts_test.sh REPO_ROOT
set -uo pipefail
REPO=$1
fails=0
check() {  # check NAME EXPECTED_RC ACTUAL_RC
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: exit $3, expected $2" >&2; fails=$((fails + 1)); fi
}
run_block() { printf '%s' "$1" | "$REPO/scripts/fresh-root-check.sh" --strict-lines | bash -euo pipefail; }

out=$(run_block $'false && echo not-reached\necho reached\n' 2>&1); rc=$?
check "first command of an && list fails the block" 1 $rc
[[ $out != *reached* ]] || { echo "FAIL: the block went on after its failing line: $out" >&2; fails=$((fails + 1)); }
[[ $out == *"line 1 of the block failed"* ]] || { echo "FAIL: no message naming the line: $out" >&2; fails=$((fails + 1)); }

out=$(run_block $'true\n(exit 3) # a comment\necho not-reached\n' 2>&1); rc=$?
check "exit status of the failing line is kept" 3 $rc
[[ $out == *"line 2 of the block failed (exit 3)"* ]] || { echo "FAIL: wrong line reported: $out" >&2; fails=$((fails + 1)); }

out=$(run_block $'echo one \\\n  two   # joined\n\n# a comment line\ntrue && echo three\n' 2>&1); rc=$?
check "continuations, comments and blank lines" 0 $rc
[ "$out" = $'one two\nthree' ] || { echo "FAIL: unexpected output: $out" >&2; fails=$((fails + 1)); }

# check-skips on a ctest log of a run that ran nothing.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/Testing/Temporary"
printf 'Start testing: Dec 03 12:00 UTC\n----------------------------------------------------------\nEnd testing: Dec 03 12:00 UTC\n' \
  > "$tmp/Testing/Temporary/LastTest.log"
"$REPO/scripts/check-skips.sh" "$tmp" >/dev/null 2>&1; check "check-skips fails when no test ran" 1 $?

# Every ctest command in the README's fresh-root blocks refuses an empty test set.
# The blocks as the fresh-root check reads them (its own --block-of), every marker the README has.
readme_ctest=$(sed -n 's/^<!-- fresh-root: \([a-z-]*\) -->$/\1/p' "$REPO/README.md" | while read -r name; do
                 "$REPO/scripts/fresh-root-check.sh" --block-of "$name" < "$REPO/README.md"; done | grep -E '(^| )ctest ')
[ -n "$readme_ctest" ] || { echo "FAIL: no ctest line found in the README's fresh-root blocks" >&2; fails=$((fails + 1)); }
while IFS= read -r line; do
  [ -z "$line" ] || [[ $line == *--no-tests=error* ]] ||
    { echo "FAIL: README fresh-root ctest line without --no-tests=error: $line" >&2; fails=$((fails + 1)); }
done <<<"$readme_ctest"

[ $fails -eq 0 ] && echo "ci_scripts: all passed"
exit $((fails > 0))
