#!/usr/bin/env bash
# Remote storage benchmark: resguardo vs restic, both on the same S3 server on loopback (moto).
#
# Usage: bash benchmarks/remote_s3.sh [engine ...]
#   engines: resguardo restic (default: both, in that order)
#
# Starts moto's S3 server (python -m moto.server) on 127.0.0.1 at a free port, makes a bucket per
# engine, then for each engine: init, backup of $DATA, restore of that snapshot into a fresh folder,
# and diff -r --no-dereference of the restored tree against $DATA. Each engine starts from an empty
# local cache folder of its own, kept between its steps (as a user's would be). Before each timed
# step: sync, and every file of $DATA read to /dev/null (a warm page cache for both). Every step runs
# under /usr/bin/time -v (wall, CPU, peak RSS). The server runs all the while on the same machine, so
# its CPU time is part of what both engines wait for.
#
# Results: /tmp/bench/results-s3/<timestamp>/ with results.tsv (engine, step, wall seconds, user+sys
# CPU seconds, peak RSS KiB, exit status), <engine>.<step>.out / .time, server.log;
# /tmp/bench/results-s3/latest points at the newest run. A table is printed at the end.
#
# Environment: DATA (default /tmp/bench/data; e.g. /tmp/bench/data/python3.11 for a smaller run),
#   PY (the python that has moto and boto3; default: .venv/bin/python of this checkout),
#   RESGUARDO (default: .venv/bin/resguardo of this checkout), RESTIC (default: restic).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH=/tmp/bench
DATA=${DATA:-$BENCH/data}
PY=${PY:-$ROOT/.venv/bin/python}
RESGUARDO=${RESGUARDO:-$ROOT/.venv/bin/resguardo}
RESTIC=${RESTIC:-restic}
WORK=$BENCH/s3-work
RES_ROOT=$BENCH/results-s3
PASS=bench-passphrase

die() { echo "remote_s3.sh: error: $*" >&2; exit 2; }

ENGINES=()
for argument in "$@"; do
  case $argument in
    resguardo|restic) ENGINES+=("$argument") ;;
    -h|--help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$argument' (engines: resguardo restic)" ;;
  esac
done
[[ ${#ENGINES[@]} -eq 0 ]] && ENGINES=(resguardo restic)

[[ -d $DATA ]] || die "dataset $DATA is missing (build it with make_dataset.sh, or set DATA)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
"$PY" -c 'import moto, boto3' 2>/dev/null || die "$PY lacks moto[server] and boto3 (run scripts/bootstrap.sh)"
for engine in "${ENGINES[@]}"; do
  case $engine in
    resguardo) [[ -x $RESGUARDO ]] || command -v "$RESGUARDO" >/dev/null || die "resguardo not found: $RESGUARDO" ;;
    restic) command -v "$RESTIC" >/dev/null || die "restic not found: $RESTIC" ;;
  esac
done

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$RES_ROOT/$STAMP
mkdir -p "$RESULTS"
ln -sfn "$RESULTS" "$RES_ROOT/latest"
rm -rf "$WORK"
mkdir -p "$WORK"
printf 'engine\tstep\twall_s\tcpu_s\tmax_rss_kib\tstatus\n' >"$RESULTS/results.tsv"

# ---- the server ------------------------------------------------------------------------------
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT=http://127.0.0.1:$PORT
TMPDIR=$WORK "$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$RESULTS/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf "$ENDPOINT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "$ENDPOINT/moto-api/" >/dev/null || die "moto server did not start (see $RESULTS/server.log)"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
export RESGUARDO_PASSWORD=$PASS RESTIC_PASSWORD=$PASS
"$PY" - "$ENDPOINT" "${ENGINES[@]}" <<'EOF'
import sys
import boto3

client = boto3.client("s3", endpoint_url=sys.argv[1])
for engine in sys.argv[2:]:
    client.create_bucket(Bucket=f"bench-{engine}")
EOF

warm() {
  sync
  find "$DATA" -type f -print0 | xargs -0 cat >/dev/null 2>&1
}

# step ENGINE STEP COMMAND...: run one timed step and record its row.
step() {
  local engine=$1 name=$2
  shift 2
  warm
  echo "== $engine $name"
  /usr/bin/time -v -o "$RESULTS/$engine.$name.time" "$@" >"$RESULTS/$engine.$name.out" 2>&1
  local status=$?
  "$PY" - "$RESULTS/$engine.$name.time" "$engine" "$name" "$status" >>"$RESULTS/results.tsv" <<'EOF'
import re, sys

text = open(sys.argv[1]).read()
def field(label):
    match = re.search(re.escape(label) + r": (.*)", text)
    return match.group(1).strip() if match else "0"
wall = 0.0
for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
    wall = wall * 60 + float(part)
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{wall:.2f}\t{cpu:.2f}\t{field('Maximum resident set size (kbytes)')}\t{sys.argv[4]}")
EOF
  tail -1 "$RESULTS/results.tsv"
  [[ $status -eq 0 ]] || echo "   (exit $status: see $RESULTS/$engine.$name.out)"
}

verify() {
  local engine=$1 restored=$2
  if diff -r --no-dereference "$DATA" "$restored" >"$RESULTS/$engine.diff.out" 2>&1; then
    echo "   $engine: restored tree identical"
  else
    echo "   $engine: restored tree DIFFERS (see $RESULTS/$engine.diff.out)"
  fi
}

for engine in "${ENGINES[@]}"; do
  case $engine in
    resguardo)
      export RESGUARDO_CACHE_DIR=$WORK/resguardo-cache
      options=(--repo "s3://bench-resguardo/repo" --s3-endpoint "$ENDPOINT" --quiet)
      step resguardo init "$RESGUARDO" "${options[@]}" init
      step resguardo backup "$RESGUARDO" "${options[@]}" backup "$DATA"
      step resguardo restore "$RESGUARDO" "${options[@]}" restore latest --target "$WORK/restore-resguardo"
      verify resguardo "$WORK/restore-resguardo$DATA"
      ;;
    restic)
      options=(-r "s3:$ENDPOINT/bench-restic/repo" --cache-dir "$WORK/restic-cache" --quiet)
      step restic init "$RESTIC" "${options[@]}" init
      step restic backup "$RESTIC" "${options[@]}" backup "$DATA"
      step restic restore "$RESTIC" "${options[@]}" restore latest --target "$WORK/restore-restic"
      verify restic "$WORK/restore-restic$DATA"
      ;;
  esac
  rm -rf "$WORK/restore-$engine"
done

echo
echo "results: $RESULTS/results.tsv"
column -t -s $'\t' "$RESULTS/results.tsv"
