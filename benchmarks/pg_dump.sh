#!/usr/bin/env bash
# PostgreSQL backed up by resguardo vs `pg_dump | restic backup --stdin`, in the same run.
#
# Usage: bash benchmarks/pg_dump.sh [SCALE]              one database (pgbench scale, default 50: ~750 MB)
#        bash benchmarks/pg_dump.sh multi [COUNT] [SCALE]  COUNT databases (default 4) of pgbench scale
#                                                          SCALE each (default 12: 4 x 12 is about -s 50)
#
# Starts its own PostgreSQL cluster on 127.0.0.1 on a free port (as the postgres user when run as root),
# fills the database(s) with `pgbench -i -s SCALE`, then times, each into a fresh repository:
#   resguardo   one database: resguardo backup --postgresql URL --database bench (pg_dump --format=custom
#               --compress=0 streamed, plus pg_dumpall --globals-only, into one snapshot);
#               several: resguardo backup --postgresql URL, every database of the server in one job and
#               one snapshot (--parallel 3 dumps at once, the default; the small `postgres` database too)
#   restic      for each database: pg_dump DB | restic backup --stdin --stdin-filename DB.sql (one
#               snapshot per database, one after the other: how a pg_dump-and-restic script does it)
# twice each (a first backup, then a second one of the unchanged databases), and prints wall time and
# repository size (du -sb) of each, with the ratios restic / resguardo. Everything is removed at the end.
#
# Environment: RESGUARDO (default: .venv/bin/resguardo of this checkout), RESTIC (default: restic),
#   WORK (default: a new folder under /tmp).
set -euo pipefail

if [[ ${1:-} == multi ]]; then
    COUNT=${2:-4}
    SCALE=${3:-12}
    DATABASES=()
    for number in $(seq 1 "$COUNT"); do DATABASES+=("bench$number"); done
else
    SCALE=${1:-50}
    DATABASES=(bench)
fi
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
for database in "${DATABASES[@]}"; do
    "$PG_BIN/createdb" "$database"
    echo "pgbench -i -s $SCALE $database ..." >&2
    "$PG_BIN/pgbench" -i -q -s "$SCALE" "$database" >/dev/null 2>&1
done
DB_SIZE=$("$PG_BIN/psql" -Atc "SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datname LIKE 'bench%'" postgres)
echo "load average before the backups: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

seconds() { python3 -c 'import time; print(time.monotonic())'; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }

run_resguardo() {
    local chosen=()
    [[ ${#DATABASES[@]} == 1 ]] && chosen=(--database "${DATABASES[0]}")
    "$RESGUARDO" --repo "$WORK/repo-resguardo" --quiet backup --postgresql "postgresql://bench@127.0.0.1:$PORT/" \
        "${chosen[@]}" >/dev/null
}
run_restic() {
    for database in "${DATABASES[@]}"; do
        "$PG_BIN/pg_dump" "$database" |
            "$RESTIC" -r "$WORK/repo-restic" backup --quiet --stdin --stdin-filename "$database.sql"
    done
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
    "${TIMES[restic-second]}" "${SIZES[resguardo-second]}" "${SIZES[restic-second]}" "${DATABASES[@]}" <<'EOF'
import sys

database, first_ours, first_restic, second_ours, second_restic, size_ours, size_restic = map(float, sys.argv[1:8])
print(f"databases: {len(sys.argv[8:])} ({' '.join(sys.argv[8:])}), {database / 1e6:.0f} MB in all")
print(f"first backup:  restic/resguardo wall time {first_restic / first_ours:.2f}")
print(f"second backup: restic/resguardo wall time {second_restic / second_ours:.2f}")
print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
print(f"repositories after both: resguardo {size_ours / 1e6:.1f} MB, restic {size_restic / 1e6:.1f} MB, "
      f"restic/resguardo {size_restic / size_ours:.2f}")
EOF
