#!/usr/bin/env bash
# A PostgreSQL database backed up directly from here vs dumped on its server over SSH, in the same run.
#
# Usage: bash benchmarks/pg_dump_ssh.sh [SCALE] [ROUNDS]   (pgbench scale, default 10; rounds, default 2)
#
# Starts its own PostgreSQL cluster and its own sshd (as the current user, key login only), both on
# 127.0.0.1 on free ports, fills a database with `pgbench -i -s SCALE`, then times, each into a fresh
# repository, alternating, ROUNDS times:
#   direct   resguardo backup --postgresql URL --database bench
#   ssh      resguardo backup --postgresql URL --database bench --ssh USER@127.0.0.1:PORT ...
#            (pg_dump runs in the SSH session; its output comes back over the encrypted channel)
# and prints the wall time of each and the size of the dump stream. Everything is removed at the end.
#
# Environment: RESGUARDO (default: .venv/bin/resguardo of this checkout), WORK (default: a new folder
#   under /tmp).
set -euo pipefail

SCALE=${1:-10}
ROUNDS=${2:-2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESGUARDO=${RESGUARDO:-$HERE/.venv/bin/resguardo}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
WORK=${WORK:-$(mktemp -d /tmp/resguardo-pgssh.XXXXXX)}
export RESGUARDO_PASSWORD=bench-passphrase
[[ -x $RESGUARDO ]] || { echo "pg_dump_ssh.sh: $RESGUARDO is missing (bash scripts/bootstrap.sh)" >&2; exit 2; }
[[ -x /usr/sbin/sshd ]] || { echo "pg_dump_ssh.sh: sshd is missing (scripts/test-services.sh)" >&2; exit 2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_postgres=()
mkdir -p "$WORK/pg"
if [[ $(id -u) == 0 ]]; then
    as_postgres=(runuser -u postgres --)
    chmod 711 "$WORK"
    chown postgres: "$WORK/pg"
    mkdir -p /run/sshd
fi
PG_PORT=$(free_port)
SSH_PORT=$(free_port)
cleanup() {
    [[ -f $WORK/sshd.pid ]] && kill "$(cat "$WORK/sshd.pid")" 2>/dev/null || true
    "${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"${as_postgres[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U bench -A trust --no-sync >/dev/null
"${as_postgres[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK/pg -c fsync=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=bench
"$PG_BIN/createdb" bench
echo "pgbench -i -s $SCALE ..." >&2
"$PG_BIN/pgbench" -i -q -s "$SCALE" bench >/dev/null 2>&1
unset PGHOST PGPORT PGUSER

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$WORK/host_key.pub")" >"$WORK/known_hosts"
cat >"$WORK/sshd_config" <<CONFIG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
CONFIG
/usr/sbin/sshd -f "$WORK/sshd_config" -E "$WORK/sshd.log"
for _ in $(seq 100); do [[ -f $WORK/sshd.pid ]] && break; sleep 0.1; done

URL="postgresql://bench@127.0.0.1:$PG_PORT/"
SSH=(--ssh "$(id -un)@127.0.0.1:$SSH_PORT" --ssh-key-file "$WORK/client_key" --ssh-known-hosts "$WORK/known_hosts")
seconds() { python3 -c 'import time; print(time.monotonic())'; }

printf 'way\tround\tseconds\tdump_bytes\n'
for round in $(seq "$ROUNDS"); do
    for way in direct ssh; do
        repo="$WORK/repo-$way-$round"
        "$RESGUARDO" --repo "$repo" --quiet init >/dev/null
        extra=()
        [[ $way == ssh ]] && extra=("${SSH[@]}")
        start=$(seconds)
        summary=$("$RESGUARDO" --repo "$repo" --json backup --postgresql "$URL" --database bench "${extra[@]}" | tail -n 1)
        end=$(seconds)
        size=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(sum(x["size"] for x in s["streams"]))' "$summary")
        printf '%s\t%s\t%s\t%s\n' "$way" "$round" "$(python3 -c "print(f'{$end - $start:.1f}')")" "$size"
        rm -rf "$repo"
    done
done
