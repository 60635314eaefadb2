#!/usr/bin/env bash
# Remote-storage benchmark: resguardo vs restic against the same server on loopback.
#
# Usage: bash benchmarks/remote.sh MODE [engine ...]
#   MODE     sftp: an OpenSSH server started for the run on 127.0.0.1 (a free port), with its own host
#            key and client key; stopped at the end, even on failure or Ctrl-C.
#   engines  resguardo restic (default: both, in that order)
#
# For each engine: init, backup of the dataset (default /tmp/bench/data), restore of that snapshot to
# a fresh folder, then diff -r --no-dereference of the restored tree against the dataset. Before the
# backup the dataset is read once (warm page cache), before the restore the repository too. Each step
# runs under /usr/bin/time -v (wall, user+sys CPU, peak RSS; the server's CPU is counted apart) after waiting (up to IDLE_WAIT seconds,
# default 60; 0 turns it off) for other work on the machine to use less than a fifth of a core.
#
# Results: /tmp/bench/results-remote/<timestamp>-MODE/ with results.tsv (one row per step), meta.tsv,
# run.log and the raw output of every step; .../latest points at the newest run.
#
# Adding a mode (such as s3): write MODE_start (start the service, set anything the others need),
# MODE_stop, MODE_server_ticks (print the CPU ticks the service has used so far, or 0),
# MODE_location ENGINE (print the repository location for that engine), MODE_env ENGINE (print extra
# environment as NAME=VALUE lines), MODE_restic_options (print extra restic options, one per line) and
# MODE_repository_folder ENGINE (a local folder to read before the restore, or nothing); then add MODE
# to the case below.
#
# Environment: RESGUARDO, RESTIC (binaries; default: this checkout's .venv/bin/resguardo, then PATH),
#   DATA (default /tmp/bench/data), IDLE_WAIT, SSHD (default /usr/sbin/sshd).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=/tmp/bench
DATA=${DATA:-$BENCH/data}
RESTIC=${RESTIC:-restic}
if [[ -z ${RESGUARDO:-} ]]; then
  RESGUARDO=resguardo
  [[ -x $HERE/../.venv/bin/resguardo ]] && RESGUARDO=$HERE/../.venv/bin/resguardo
fi
SSHD=${SSHD:-/usr/sbin/sshd}
IDLE_WAIT=${IDLE_WAIT:-60}
PASS=bench-passphrase
export RESTIC_PASSWORD=$PASS RESGUARDO_PASSWORD=$PASS

die() { echo "remote.sh: error: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

MODE=${1:-}
case $MODE in
  sftp) ;;
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
  *) die "unknown mode '$MODE' (modes: sftp)" ;;
esac
shift
ENGINES=()
for a in "$@"; do
  case $a in
    resguardo|restic) ENGINES+=("$a") ;;
    *) die "unknown engine '$a' (engines: resguardo restic)" ;;
  esac
done
[[ ${#ENGINES[@]} -eq 0 ]] && ENGINES=(resguardo restic)

[[ -d $DATA ]] && [[ -n $(find "$DATA" -maxdepth 2 -type f -print -quit 2>/dev/null) ]] \
  || die "dataset $DATA is missing or empty: build it with /work/shared/bench/make_dataset.sh (or set DATA)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install time"
for e in "${ENGINES[@]}"; do
  b=$RESGUARDO; [[ $e == restic ]] && b=$RESTIC
  command -v "$b" >/dev/null 2>&1 || die "engine '$e': binary '$b' not found"
done

WORKDIR=$BENCH/remote-$MODE
RES_ROOT=$BENCH/results-remote
mkdir -p "$RES_ROOT"
exec 9> "$BENCH/.remote-$MODE.lock"
flock -n 9 || die "another benchmarks/remote.sh $MODE is running"
rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
RES=$RES_ROOT/$(date +%Y%m%dT%H%M%S)-$MODE
mkdir -p "$RES"
ln -sfn "$RES" "$RES_ROOT/latest"
exec > >(tee -a "$RES/run.log") 2>&1
TSV=$RES/results.tsv
printf 'mode\tengine\tstep\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tbytes\tserver_cpu_s\tother_cpu_s\n' > "$TSV"

# ---- mode sftp: an sshd of our own on 127.0.0.1 ---------------------------------------------------
sftp_start() {
  [[ -x $SSHD ]] || die "$SSHD is missing: apt-get install openssh-server openssh-client (as root)"
  local dir=$WORKDIR/sshd
  mkdir -p "$dir" "$WORKDIR/repos"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" || die "ssh-keygen failed"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" || die "ssh-keygen failed"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  [[ $(id -u) == 0 && ! -d /run/sshd ]] && mkdir -p -m 0755 /run/sshd
  SFTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SFTP_USER=$(id -un)
  cat > "$dir/sshd_config" <<EOF
Port $SFTP_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxSessions 50
MaxStartups 100:30:200
Subsystem sftp internal-sftp
EOF
  echo "[127.0.0.1]:$SFTP_PORT $(cut -d' ' -f1-2 "$dir/host_key.pub")" > "$dir/known_hosts"
  "$SSHD" -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 100); do
    ssh -p "$SFTP_PORT" -i "$dir/client_key" -o UserKnownHostsFile="$dir/known_hosts" \
      -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes "$SFTP_USER@127.0.0.1" true \
      2>/dev/null && { echo "sshd (pid $SSHD_PID) listening on 127.0.0.1:$SFTP_PORT"; return 0; }
    sleep 0.1
  done
  die "sshd did not start; see $dir/sshd.log"
}
sftp_stop() {
  [[ -n ${SSHD_PID:-} ]] || return 0
  pkill -KILL -P "$SSHD_PID" 2>/dev/null  # the sessions it still serves (its own children only)
  kill "$SSHD_PID" 2>/dev/null
  wait "$SSHD_PID" 2>/dev/null
  echo "sshd (pid $SSHD_PID) stopped"
  SSHD_PID=
}
sftp_location() {
  case $1 in
    resguardo) echo "sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT/$WORKDIR/repos/resguardo" ;;
    restic) echo "sftp:$SFTP_USER@127.0.0.1:$WORKDIR/repos/restic" ;;
  esac
}
sftp_env() {
  echo "RESGUARDO_SFTP_KEY=$WORKDIR/sshd/client_key"
  echo "RESGUARDO_SFTP_KNOWN_HOSTS=$WORKDIR/sshd/known_hosts"
}
sftp_restic_options() {
  echo "-o"
  echo "sftp.command=ssh -p $SFTP_PORT -i $WORKDIR/sshd/client_key -o UserKnownHostsFile=$WORKDIR/sshd/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes $SFTP_USER@127.0.0.1 -s sftp"
}
sftp_repository_folder() { echo "$WORKDIR/repos/$1"; }
# CPU ticks the server spent so far: sshd and the finished sessions it reaped (fields 14-17 of its stat).
sftp_server_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$SSHD_PID/stat" 2>/dev/null || echo 0; }

trap '"${MODE}_stop"' EXIT
trap 'exit 130' INT TERM

# ---- timing ---------------------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
wait_idle() {
  local waited=0 a b busy
  while (( IDLE_WAIT > 0 )); do
    a=$(busy_ticks); sleep 1; b=$(busy_ticks)
    busy=$(awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN{printf "%.2f", (b-a)/hz}')
    awk -v x="$busy" 'BEGIN{exit !(x < 0.2)}' && break
    if (( waited >= IDLE_WAIT )); then echo "    (machine still busy: $busy cores used by others)"; break; fi
    sleep 4; waited=$((waited + 5))
  done
}
warm() { sync; for d in "$@"; do [[ -e $d ]] && find "$d" -type f -print0 | xargs -0 -r cat > /dev/null; done; }
nbytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d", s}'; }

# timed ENGINE STEP BYTES -- command...
timed() {
  local eng=$1 step=$2 bytes=$3; shift 4
  local tf=$RES/$eng.$step.time of=$RES/$eng.$step.out t0 t1 c0 c1 s0 s1 rc wall user sys rss server other
  wait_idle
  echo "$(date +%T) $eng $step"
  c0=$(busy_ticks); s0=$("${MODE}_server_ticks"); t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" "$@" > "$of" 2>&1 < /dev/null
  rc=$?
  t1=$(date +%s.%N); sleep 0.5; c1=$(busy_ticks); s1=$("${MODE}_server_ticks")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  user=$(awk -F': ' '/User time/{print $2}' "$tf")
  sys=$(awk -F': ' '/System time/{print $2}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
  server=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b-a)/hz}')
  # other work on the machine: all CPU time in the step but this command's and the server's
  other=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v u="${user:-0}" -v s="${sys:-0}" -v v="$server" \
    'BEGIN{o=(b-a)/hz-u-s-v; if (o<0) o=0; printf "%.2f", o}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" "$eng" "$step" "$rc" "$wall" "${user:-0}" \
    "${sys:-0}" "${rss:-0}" "$bytes" "$server" "$other" >> "$TSV"
  tail -n 5 "$of" | sed 's/^/    | /'
  echo "    rc=$rc wall=${wall}s user=${user}s sys=${sys}s maxrss=${rss}kB server_cpu=${server}s other_cpu=${other}s"
  return $rc
}

run_engine() {
  local eng=$1 location env=() restic=() target=$WORKDIR/restore-$1 bytes
  location=$("${MODE}_location" "$eng")
  mapfile -t env < <("${MODE}_env" "$eng")
  mapfile -t restic < <("${MODE}_restic_options")
  bytes=$(nbytes "$DATA")
  echo "=== $eng: $location ==="
  local command=()
  case $eng in
    resguardo) command=(env "${env[@]}" RESGUARDO_CACHE_DIR="$WORKDIR/cache-resguardo" "$RESGUARDO" --repo "$location") ;;
    restic) command=("$RESTIC" "${restic[@]}" --cache-dir "$WORKDIR/cache-restic" -r "$location") ;;
  esac
  local init_args=() backup_args=(--host bench)
  [[ $eng == restic ]] && init_args=(--repository-version 2) && backup_args+=(--compression auto)
  timed "$eng" init 0 -- "${command[@]}" init "${init_args[@]}" || return 1
  warm "$DATA"
  timed "$eng" backup "$bytes" -- "${command[@]}" backup "${backup_args[@]}" "$DATA" || return 1
  rm -rf "$target"; mkdir -p "$target"
  warm "$DATA" "$("${MODE}_repository_folder" "$eng")"
  timed "$eng" restore "$bytes" -- "${command[@]}" restore latest --target "$target" || return 1
  if diff -r --no-dereference "$DATA" "$target$DATA" > "$RES/$eng.diff" 2>&1; then
    echo "    diff: restored tree identical"
  else
    echo "    diff: MISMATCH (see $RES/$eng.diff)"
    return 1
  fi
  rm -rf "$target"
}

meta() { printf '%s\t%s\n' "$1" "$2" >> "$RES/meta.tsv"; }
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "bash benchmarks/remote.sh $MODE ${ENGINES[*]}"
meta nproc "$(nproc)"
meta loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta dataset "$DATA ($(find "$DATA" -type f | wc -l) files, $(nbytes "$DATA") bytes)"
meta resguardo "$("$RESGUARDO" --version 2>&1 | head -1) ($(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null))"
meta restic "$("$RESTIC" version 2>&1 | head -1)"
meta openssh "$("$SSHD" -V 2>&1 | head -1)"
echo "results: $RES"

"${MODE}_start"
failed=()
for e in "${ENGINES[@]}"; do run_engine "$e" || failed+=("$e"); done
"${MODE}_stop"

echo "=== summary ($MODE on loopback) ==="
column -t -s $'\t' "$TSV"
if ((${#ENGINES[@]} == 2)); then
  awk -F'\t' 'NR>1{w[$2" "$3]=$5} END{
    for (s in w) split(s, p, " ");
    n = split("init backup restore", steps, " ");
    for (i = 1; i <= n; i++) { a = w["resguardo " steps[i]]; b = w["restic " steps[i]];
      if (a > 0 && b > 0) printf "%-8s resguardo %7.2fs  restic %7.2fs  restic/resguardo %.2fx\n", steps[i], a, b, b / a } }' "$TSV"
fi
if ((${#failed[@]})); then echo "FAILED: ${failed[*]}"; exit 1; fi
