#!/usr/bin/env bash
# A PostgreSQL database backed up by resguardo vs `pg_dump | restic backup --stdin`, in the same run.
#
# Usage: bash benchmarks/pg_dump.sh [SCALE]      (pgbench scale, default 50: about 750 MB of tables)
#
# Starts its own PostgreSQL cluster on 127.0.0.1 on a free port (as the postgres user when run as root),
# fills a database with `pgbench -i -s SCALE`, then times, each into a fresh repository:
#   resguardo   resguardo backup --postgresql URL --database bench  (pg_dump --format=custom --compress=0
#               streamed, plus pg_dumpall --globals-only, into one snapshot)
#   restic      pg_dump bench | restic backup --stdin --stdin-filename bench.sql
# twice each (a first backup, then a second one of the unchanged database), and prints wall time and
# repository size (du -sb) of each, with the ratios restic / resguardo. Everything is removed at the end.
#
# Environment: RESGUARDO (default: .venv/bin/resguardo of this checkout), RESTIC (default: restic),
#   WORK (default: a new folder under /tmp).
set -euo pipefail

SCALE=${1:-50}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESGUARDO=${RESGUARDO:-$HERE/.venv/bin/resguardo}
RESTIC=${RESTIC:-restic}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
WORK=${WORK:-$(mktemp -d /tmp/resguardo-pgbench.XXXXXX)}
PASS=bench-passphrase
export RESTIC_PASSWORD=$PASS RESGUARDO_PASSWORD=$PASS

command -v "$RESTIC" >/dev/null || { echo "pg_dump.sh: restic is missing (apt-get install -y restic)" >&2; exit 2; }
[[ -x $RESGUARDO ]] || { echo "pg_dump.sh: $RESGUARDO is missing (bash scripts/bootstrap.sh)" >&2; exit 2; }

as_postgres=()
if [[ $(id -u) == 0 ]]; then
    as_postgres=(runuser -u postgres --)
    chown postgres: "$WORK"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"${as_postgres[@]}" "$PG_BIN/initdb" -D "$WORK/data" -U bench -A trust --no-sync >/dev/null
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK -c fsync=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=bench
"$PG_BIN/createdb" bench
echo "pgbench -i -s $SCALE ..." >&2
"$PG_BIN/pgbench" -i -q -s "$SCALE" bench >/dev/null 2>&1
DB_SIZE=$("$PG_BIN/psql" -Atc "SELECT pg_database_size('bench')" bench)

seconds() { python3 -c 'import time; print(time.monotonic())'; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }

run_resguardo() {
    "$RESGUARDO" --repo "$WORK/repo-resguardo" --quiet backup --postgresql "postgresql://bench@127.0.0.1:$PORT/" \
        --database bench >/dev/null
}
run_restic() {
    "$PG_BIN/pg_dump" bench | "$RESTIC" -r "$WORK/repo-restic" backup --quiet --stdin --stdin-filename bench.sql
}

"$RESGUARDO" --repo "$WORK/repo-resguardo" --quiet init >/dev/null
"$RESTIC" -r "$WORK/repo-restic" init >/dev/null

printf 'engine\tbackup\tseconds\trepository_bytes\n'
declare -A TIMES SIZES
for round in first second; do
    for engine in resguardo restic; do
        sync
        start=$(seconds)
        "run_$engine"
        end=$(seconds)
        TIMES[$engine-$round]=$(elapsed "$start" "$end")
        SIZES[$engine-$round]=$(du -sb "$WORK/repo-$engine" | cut -f1)
        printf '%s\t%s\t%s\t%s\n' "$engine" "$round" "${TIMES[$engine-$round]}" "${SIZES[$engine-$round]}"
    done
done
python3 - "$DB_SIZE" "${TIMES[resguardo-first]}" "${TIMES[restic-first]}" "${TIMES[resguardo-second]}" \
    "${TIMES[restic-second]}" "${SIZES[resguardo-second]}" "${SIZES[restic-second]}" <<'EOF'
import sys

database, first_ours, first_restic, second_ours, second_restic, size_ours, size_restic = map(float, sys.argv[1:])
print(f"database size {database / 1e6:.0f} MB")
print(f"first backup:  restic/resguardo wall time {first_restic / first_ours:.2f}")
print(f"second backup: restic/resguardo wall time {second_restic / second_ours:.2f}")
print(f"repositories after both: resguardo {size_ours / 1e6:.1f} MB, restic {size_restic / 1e6:.1f} MB, "
      f"restic/resguardo {size_restic / size_ours:.2f}")
EOF
