#!/usr/bin/env bash
# Run every check of the project in ./.venv and exit non-zero if any fails:
#   ruff check, ruff format --check, mypy (strict), lint-imports (the layers contract), pytest -n 2.
# Every check runs even when an earlier one failed; each ends with a one-line verdict, and a summary of
# all verdicts closes the output. Arguments are passed to pytest (e.g. `-k snapshot`, `tests/engine`).
# Needs .venv: run `bash scripts/bootstrap.sh` first, or `bash scripts/test.sh` for both.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "check: no virtual environment in $VENV; run 'bash scripts/bootstrap.sh' first (or 'bash scripts/test.sh')" >&2
    exit 1
fi
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"

# Lint only the source folders that exist (git keeps no empty folder, so benchmarks/ may be absent).
lint_paths=()
for folder in src tests benchmarks; do
    [[ -d "$folder" ]] && lint_paths+=("$folder")
done

verdicts=()
failures=0

verdict() {
    local line
    line="$(printf 'check: %-16s %s' "$1" "$2")"
    verdicts+=("$line")
    echo "$line"
}

run_check() {
    local name="$1" status
    shift
    echo "==> $name: $*"
    "$@"
    status=$?
    if ((status == 0)); then
        verdict "$name" "ok"
    else
        verdict "$name" "FAILED (exit $status)"
        failures=$((failures + 1))
    fi
}

run_check "ruff check" ruff check "${lint_paths[@]}"
run_check "ruff format" ruff format --check "${lint_paths[@]}"
run_check "mypy" mypy
run_check "lint-imports" lint-imports --no-logo

pytest_output="$(mktemp "${TMPDIR:-/tmp}/resguardo-pytest.XXXXXX")"
trap 'rm -f "$pytest_output"' EXIT
color=()
[[ -t 1 ]] && color=(--color=yes)
echo "==> pytest: pytest -n 2 $*"
python -m pytest -n 2 "${color[@]}" "$@" 2>&1 | tee "$pytest_output"
status=${PIPESTATUS[0]}
case $status in
    0) verdict "pytest" "ok" ;;
    5)
        verdict "pytest" "FAILED: no tests were collected (pytest exit 5); a suite that runs nothing proves nothing"
        failures=$((failures + 1))
        ;;
    *)
        verdict "pytest" "FAILED (exit $status)"
        failures=$((failures + 1))
        ;;
esac

echo
echo "==> summary"
printf '%s\n' "${verdicts[@]}"
if ((failures > 0)); then
    echo "check: $failures of ${#verdicts[@]} checks FAILED"
else
    echo "check: all ${#verdicts[@]} checks passed"
fi
# pytest's own closing line last, so that whoever reads the end of the log sees the test count.
last_line="$(grep -v '^[[:space:]]*$' "$pytest_output" | tail -n 1)"
[[ -n "$last_line" ]] && echo "$last_line"
((failures == 0))
