#!/usr/bin/env bash
# A full scrub through the service against `restic check --read-data` and `resguardo check --read-data`,
# on the same dataset (/tmp/bench/data, built by /work/shared/bench/make_dataset.sh) in the same run.
#
# Usage: bash benchmarks/scrub.sh [ROUNDS]   (default 3 rounds; each round times the three, in turn)
# Environment: DATA (default /tmp/bench/data), OUT (default /tmp/bench/scrub), RESTIC (default restic).
# Both repositories are made once (resguardo with its defaults, restic v2 with --compression auto); the
# repositories are read once before each timed step (a warm page cache, as benchmarks/run.sh does).
# Prints one line per timed step: name, wall seconds, CPU seconds, peak RSS MB; then the medians.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA=${DATA:-/tmp/bench/data}
OUT=${OUT:-/tmp/bench/scrub}
RESTIC=${RESTIC:-restic}
ROUNDS=${1:-3}
PY="$HERE/.venv/bin/python"
RESGUARDO="$HERE/.venv/bin/resguardo"
export RESTIC_PASSWORD="bench passphrase for the scrub" RESGUARDO_PASSWORD="bench passphrase for the scrub"

[[ -d $DATA ]] || { echo "scrub.sh: no dataset at $DATA; run /work/shared/bench/make_dataset.sh" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
env RESGUARDO_CACHE_DIR="$OUT/cache-r" "$RESGUARDO" --quiet --repo "$OUT/resguardo" init
env RESGUARDO_CACHE_DIR="$OUT/cache-r" "$RESGUARDO" --quiet --repo "$OUT/resguardo" backup --host bench "$DATA"
"$RESTIC" --quiet --cache-dir "$OUT/cache-s" -r "$OUT/restic" init --repository-version 2 > /dev/null
"$RESTIC" --quiet --cache-dir "$OUT/cache-s" -r "$OUT/restic" backup --compression auto --host bench "$DATA"

warm() { sync; find "$1" -type f -print0 | xargs -0 -r cat > /dev/null; }
timed() {  # NAME REPOSITORY -- COMMAND...
    local name=$1 repository=$2; shift 3
    warm "$repository"
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S %M' -o "$OUT/time" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" \
        || { echo "scrub.sh: $name failed:" >&2; cat "$OUT/$name.err" >&2; exit 1; }
    end=$(date +%s.%N)
    read -r user system rss < "$OUT/time"
    printf '%s\t%.2f\t%.2f\t%d\n' "$name" "$(echo "$end - $start" | bc)" "$(echo "$user + $system" | bc)" \
        $((rss / 1024)) | tee -a "$OUT/results.tsv"
}

echo "repository sizes (du -sb): resguardo $(du -sb "$OUT/resguardo" | cut -f1), restic $(du -sb "$OUT/restic" | cut -f1)"
for _round in $(seq "$ROUNDS"); do
    timed restic-check-read-data "$OUT/restic" -- "$RESTIC" --cache-dir "$OUT/cache-s" -r "$OUT/restic" \
        check --read-data
    timed resguardo-check-read-data "$OUT/resguardo" -- env RESGUARDO_CACHE_DIR="$OUT/cache-r" \
        "$RESGUARDO" --repo "$OUT/resguardo" check --read-data
    timed resguardo-service-scrub "$OUT/resguardo" -- env RESGUARDO_CACHE_DIR="$OUT/cache-r" \
        "$PY" "$HERE/benchmarks/scrub_service.py" "$OUT/resguardo"
    cat "$OUT/resguardo-service-scrub.out"
done
echo "medians (wall s):"
for name in restic-check-read-data resguardo-check-read-data resguardo-service-scrub; do
    printf '  %s\t%s\n' "$name" "$(awk -v n="$name" '$1 == n {print $2}' "$OUT/results.tsv" | sort -n \
        | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}')"
done
