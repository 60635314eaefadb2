#!/usr/bin/env bash
# Side-by-side benchmark: resguardo vs restic vs Borg on the shared dataset /tmp/bench/data.
#
# Usage: bash benchmarks/run.sh [--repeat] [engine ...]
#   engines: resguardo restic borg (default: all three, in that order)
#   --repeat  also run step (i') (initial backup again into a fresh repository and cache)
#
# For each engine, the same steps as the shared bench/run_engines.sh:
#   fresh working copy /tmp/bench/work (cp -a of /tmp/bench/data), init,
#   (i) b1_initial, (ii) b2_unchanged, [(i') b1_repeat], (iii) modify_dataset.py + b3_modified,
#   (iv) restore of the latest snapshot + diff -r --no-dereference, (v) full read-data check.
# Before every timed step: sync, then cat every file of the dataset (and for restore/check the
# repository) to /dev/null, so that every engine reads from a warm page cache.
# Every timed step runs under /usr/bin/time -v (wall, user+sys CPU, peak RSS); the repository
# size (du -sb) is recorded after each step.
#
# Results: a fresh directory /tmp/bench/results-compare/<timestamp>/ with
#   results.tsv   one row per step (see the header), diff results as step "diff"
#   meta.tsv      machine, versions, dataset fingerprint, command line
#   run.log       everything this script printed; <engine>.<step>.out/.time: raw output of each step
#   report.md     the table from benchmarks/report.py
# /tmp/bench/results-compare/latest points at the newest run.
#
# Each step first waits (up to IDLE_WAIT seconds, default 120; 0 turns it off) until other work on
# the machine uses less than a fifth of a core, and records the CPU time others used during the step.
#
# Environment: RESGUARDO, RESTIC, BORG (binaries; default: from PATH), DATA (default /tmp/bench/data),
#   BENCH_SHARED (folder with modify_dataset.py and make_dataset.sh; default: ../../shared/bench
#   beside this checkout, else /work/shared/bench), PY (python for the helpers; default python3).
set -uo pipefail

BENCH=/tmp/bench
DATA=${DATA:-$BENCH/data}
MANIFEST=$BENCH/dataset.manifest
WORK=$BENCH/work
REPOS=$BENCH/repos-compare
RESTORE=$BENCH/restore-compare
CACHE=$BENCH/cache
HOMES=$BENCH/home
RES_ROOT=$BENCH/results-compare
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PY:-python3}
RESGUARDO=${RESGUARDO:-resguardo}
RESTIC=${RESTIC:-restic}
BORG=${BORG:-borg}
PASS=bench-passphrase
export RESTIC_PASSWORD=$PASS BORG_PASSPHRASE=$PASS RESGUARDO_PASSWORD=$PASS
export BORG_DISPLAY_PASSPHRASE=n BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

die() { echo "run.sh: error: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# ---- arguments ---------------------------------------------------------------------------------
REPEAT=0
ENGINES=()
for a in "$@"; do
  case $a in
    --repeat) REPEAT=1 ;;
    -h|--help) usage; exit 0 ;;
    resguardo|restic|borg) ENGINES+=("$a") ;;
    *) die "unknown argument '$a' (engines: resguardo restic borg; option: --repeat)" ;;
  esac
done
[[ ${#ENGINES[@]} -eq 0 ]] && ENGINES=(resguardo restic borg)

# ---- preflight: everything is checked before anything is touched -------------------------------
if [[ -z ${BENCH_SHARED:-} ]]; then
  for d in "$HERE/../../shared/bench" /work/shared/bench; do
    [[ -f $d/modify_dataset.py ]] && { BENCH_SHARED=$(cd "$d" && pwd); break; }
  done
fi
[[ -n ${BENCH_SHARED:-} && -f $BENCH_SHARED/modify_dataset.py ]] \
  || die "modify_dataset.py not found (looked in ../../shared/bench and /work/shared/bench); set BENCH_SHARED"
MAKE_DATASET=$BENCH_SHARED/make_dataset.sh

if [[ ! -d $DATA ]] || [[ -z $(find "$DATA" -maxdepth 2 -type f -print -quit 2>/dev/null) ]]; then
  die "dataset $DATA is missing or empty. Build it first (about 1.7 GB, a few minutes):
    bash $MAKE_DATASET
  (needs postgresql, /opt/wheels/torch-2.13.0+cpu*.whl and libLLVM-15.so.1: apt-get install postgresql libllvm15)"
fi
[[ -f $MANIFEST ]] || die "dataset manifest $MANIFEST is missing: rebuild the dataset with: bash $MAKE_DATASET"

[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install time"
command -v "$PY" >/dev/null || die "python '$PY' not found (set PY)"
bin_of() { case $1 in resguardo) echo "$RESGUARDO" ;; restic) echo "$RESTIC" ;; borg) echo "$BORG" ;; esac; }
hint_of() {
  case $1 in
    resguardo) echo "install the project (pip install -e .) or set RESGUARDO=/path/to/venv/bin/resguardo" ;;
    restic) echo "apt-get install restic, or set RESTIC=/path/to/restic" ;;
    borg) echo "apt-get install borgbackup, or set BORG=/path/to/borg" ;;
  esac
}
missing=0
for e in "${ENGINES[@]}"; do
  b=$(bin_of "$e")
  if ! command -v "$b" >/dev/null 2>&1; then
    echo "run.sh: error: engine '$e': binary '$b' not found ($(hint_of "$e"))" >&2
    missing=1
  fi
done
[[ $missing -eq 0 ]] || { echo "run.sh: nothing was run; name only the engines you have, e.g.: bash $0 restic borg" >&2; exit 2; }

mkdir -p "$BENCH" "$RES_ROOT"
exec 9> "$BENCH/.run-compare.lock"
flock -n 9 || die "another benchmarks/run.sh is running (lock $BENCH/.run-compare.lock); both would use $WORK"

avail_kb=$(df -Pk "$BENCH" | awk 'NR==2{print $4}')
need_kb=$(( $(du -sk "$DATA" | cut -f1) * 3 + 2000000 ))
(( avail_kb >= need_kb )) || die "not enough free space under $BENCH: $((avail_kb / 1024)) MB free, about $((need_kb / 1024)) MB needed (work copy + repository + restore)"

# ---- results directory and log ------------------------------------------------------------------
RES=$RES_ROOT/$(date +%Y%m%dT%H%M%S)
[[ -e $RES ]] && RES=$RES-$$
mkdir -p "$RES" "$REPOS" "$RESTORE" "$CACHE" "$HOMES"
ln -sfn "$RES" "$RES_ROOT/latest"
LOG=$RES/run.log
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
TSV=$RES/results.tsv
printf 'engine\tstep\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tbytes\trepo_bytes\tnote\n' > "$TSV"

warm() { sync; for d in "$@"; do [[ -e $d ]] && find "$d" -type f -print0 | xargs -0 -r cat > /dev/null; done; }
nbytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%d", s}'; }
dusb() { if [[ -e $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }
row() { local IFS=$'\t'; echo "$*" >> "$TSV"; }
HZ=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }  # user nice system irq softirq steal

# Other work on a shared machine distorts the figures: before each step, wait (up to IDLE_WAIT
# seconds, default 120) until the rest of the machine uses less than a fifth of a core.
IDLE_WAIT=${IDLE_WAIT:-120}
wait_idle() {
  local waited=0 a b busy
  while :; do
    a=$(busy_ticks); sleep 1; b=$(busy_ticks)
    busy=$(awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN{printf "%.2f", (b-a)/hz}')
    awk -v x="$busy" 'BEGIN{exit !(x < 0.2)}' && break
    if (( waited >= IDLE_WAIT )); then
      echo "    (machine still busy: other work uses $busy cores; going on after ${waited}s)"; break
    fi
    (( waited == 0 )) && echo "    (other work uses $busy cores; waiting up to ${IDLE_WAIT}s for the machine to go idle)"
    sleep 4; waited=$((waited + 5))
  done
}

# timed ENGINE STEP BYTES REPO -- cmd...   (writes one TSV row, returns the command's exit code)
timed() {
  local eng=$1 step=$2 bytes=$3 repo=$4; shift 5
  local tf=$RES/$eng.$step.time of=$RES/$eng.$step.out
  (( IDLE_WAIT > 0 )) && wait_idle
  echo "$(date +%T) $eng $step: $*" | tee -a "$RES/commands.log"
  local t0 t1 rc c0 c1
  c0=$(busy_ticks); t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" "$@" > "$of" 2>&1 < /dev/null
  rc=$?
  t1=$(date +%s.%N); c1=$(busy_ticks)
  local wall user sys rss rb n other
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  user=$(awk -F': ' '/User time/{print $2}' "$tf")
  sys=$(awk -F': ' '/System time/{print $2}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")
  rb=$(dusb "$repo")
  # CPU time the machine spent on anything but this command during the step (other work on a
  # shared machine makes the figures noisy; report.py flags such steps)
  other=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v u="${user:-0}" -v s="${sys:-0}" \
    'BEGIN{o=(b-a)/hz-u-s; if (o<0) o=0; printf "%.2f", o}')
  row "$eng" "$step" "$rc" "$wall" "${user:-0}" "${sys:-0}" "${rss:-0}" "$bytes" "$rb" "other_cpu_s=$other"
  n=$(wc -l < "$of")
  sed -n '1,40{s/^/    | /;p}' "$of"
  (( n > 40 )) && echo "    | ... ($((n - 40)) more lines in $of)"
  echo "    rc=$rc wall=${wall}s user=${user}s sys=${sys}s maxrss=${rss}kB repo=${rb}B other_cpu=${other}s"
  return $rc
}

# ---- engine commands ----------------------------------------------------------------------------
# Each prints nothing; it runs `timed` with the engine's command line. TAG names the cache.
eng_init() {
  local eng=$1 repo=$2 tag=$3 step=$4
  rm -rf "$repo" "${CACHE:?}/$tag" "${HOMES:?}/$tag"
  mkdir -p "$HOMES/$tag"
  case $eng in
    resguardo) timed "$eng" "$step" 0 "$repo" -- env RESGUARDO_CACHE_DIR="$CACHE/$tag" \
                 "$RESGUARDO" --repo "$repo" init ;;
    restic) timed "$eng" "$step" 0 "$repo" -- "$RESTIC" --cache-dir "$CACHE/$tag" -r "$repo" \
              init --repository-version 2 ;;
    borg) timed "$eng" "$step" 0 "$repo" -- env BORG_BASE_DIR="$HOMES/$tag" \
            "$BORG" init -e repokey "$repo" ;;
  esac
}
eng_backup() {
  local eng=$1 repo=$2 tag=$3 step=$4 n=$5 b
  b=$(nbytes "$WORK"); warm "$WORK"
  case $eng in
    resguardo) timed "$eng" "$step" "$b" "$repo" -- env RESGUARDO_CACHE_DIR="$CACHE/$tag" \
                 "$RESGUARDO" --repo "$repo" backup --host bench "$WORK" ;;
    restic) timed "$eng" "$step" "$b" "$repo" -- "$RESTIC" --cache-dir "$CACHE/$tag" -r "$repo" \
              backup --compression auto --host bench "$WORK" ;;
    borg) timed "$eng" "$step" "$b" "$repo" -- env BORG_BASE_DIR="$HOMES/$tag" \
            "$BORG" create -C zstd,3 --stats "$repo::s$n" "$WORK" ;;
  esac
}
eng_restore() {  # restores the latest snapshot under TGT, so the tree lands at TGT$WORK
  local eng=$1 repo=$2 tag=$3 tgt=$4 b=$5
  case $eng in
    resguardo) timed "$eng" restore "$b" "$repo" -- env RESGUARDO_CACHE_DIR="$CACHE/$tag" \
                 "$RESGUARDO" --repo "$repo" restore latest --target "$tgt" ;;
    restic) timed "$eng" restore "$b" "$repo" -- "$RESTIC" --cache-dir "$CACHE/$tag" -r "$repo" \
              restore latest --target "$tgt" ;;
    borg) timed "$eng" restore "$b" "$repo" -- env -C "$tgt" BORG_BASE_DIR="$HOMES/$tag" \
            "$BORG" extract "$repo::s3" ;;
  esac
}
eng_check() {
  local eng=$1 repo=$2 tag=$3 b=$4
  case $eng in
    resguardo) timed "$eng" check "$b" "$repo" -- env RESGUARDO_CACHE_DIR="$CACHE/$tag" \
                 "$RESGUARDO" --repo "$repo" check --read-data ;;
    restic) timed "$eng" check "$b" "$repo" -- "$RESTIC" --cache-dir "$CACHE/$tag" -r "$repo" \
              check --read-data ;;
    borg) timed "$eng" check "$b" "$repo" -- env BORG_BASE_DIR="$HOMES/$tag" \
            "$BORG" check --verify-data "$repo" ;;
  esac
}
eng_version() {
  case $1 in
    resguardo) "$RESGUARDO" --version 2>&1 | head -1 ;;
    restic) "$RESTIC" version 2>&1 | head -1 ;;
    borg) "$BORG" --version 2>&1 | head -1 ;;
  esac
}

FAILED=()
run_engine() {
  local eng=$1 repo=$REPOS/$1 rep=$REPOS/$1-rep tgt=$RESTORE/$1 b
  echo "=== $eng ($(date +%T)) ==="
  rm -rf "$WORK"; cp -a "$DATA" "$WORK"; sync
  if ! eng_init "$eng" "$repo" "$eng" init; then
    echo "    $eng: init failed; skipping the remaining steps of $eng"
    FAILED+=("$eng:init"); return
  fi
  eng_backup "$eng" "$repo" "$eng" b1_initial 1 || FAILED+=("$eng:b1_initial")
  eng_backup "$eng" "$repo" "$eng" b2_unchanged 2 || FAILED+=("$eng:b2_unchanged")
  if (( REPEAT )); then  # (i') run-to-run spread: step (i) again into a fresh repo with a fresh cache
    if eng_init "$eng" "$rep" "$eng-rep" init_rep; then
      eng_backup "$eng" "$rep" "$eng-rep" b1_repeat 1 || FAILED+=("$eng:b1_repeat")
    else
      FAILED+=("$eng:init_rep")
    fi
    rm -rf "$rep" "${CACHE:?}/$eng-rep" "${HOMES:?}/$eng-rep"
  fi
  # (iii) deterministic modification, then backup
  "$PY" "$BENCH_SHARED/modify_dataset.py" "$WORK" | tee -a "$RES/commands.log"
  eng_backup "$eng" "$repo" "$eng" b3_modified 3 || FAILED+=("$eng:b3_modified")
  # (iv) full restore of the latest snapshot + diff
  b=$(nbytes "$WORK"); rm -rf "$tgt"; mkdir -p "$tgt"; warm "$WORK" "$repo"
  eng_restore "$eng" "$repo" "$eng" "$tgt" "$b" || FAILED+=("$eng:restore")
  if diff -r --no-dereference "$WORK" "$tgt$WORK" > "$RES/$eng.diff" 2>&1; then
    echo "    diff: restored tree identical"
    row "$eng" diff 0 "" "" "" "" "$b" "" diff_ok
  else
    echo "    diff: MISMATCH ($(wc -l < "$RES/$eng.diff") lines in $RES/$eng.diff):"
    sed -n '1,10s/^/    | /p' "$RES/$eng.diff"
    row "$eng" diff 1 "" "" "" "" "$b" "" diff_FAIL
    FAILED+=("$eng:diff")
  fi
  rm -rf "$tgt"
  # (v) full data verification
  warm "$WORK" "$repo"
  eng_check "$eng" "$repo" "$eng" "$b" || FAILED+=("$eng:check")
}

# ---- metadata -----------------------------------------------------------------------------------
meta() { printf '%s\t%s\n' "$1" "$2" >> "$RES/meta.tsv"; }
: > "$RES/meta.tsv"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta command "bash benchmarks/run.sh $*"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
meta memory "$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta kernel "$(uname -r)"
meta loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
meta dataset "$DATA"
meta dataset_files "$(find "$DATA" -type f | wc -l)"
meta dataset_bytes "$(nbytes "$DATA")"
meta manifest_sha256 "$(sha256sum "$MANIFEST" | cut -d' ' -f1)"
base_sha=$(grep -o 'manifest sha256: [0-9a-f]\{64\}' "$BENCH_SHARED/baseline.md" 2>/dev/null | head -1 | awk '{print $3}')
meta baseline_manifest_sha256 "${base_sha:-}"
meta repeat "$REPEAT"
meta engines "${ENGINES[*]}"
for e in "${ENGINES[@]}"; do
  meta "version_$e" "$(eng_version "$e")"
  meta "bin_$e" "$(command -v "$(bin_of "$e")")"
done
meta resguardo_commit "$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || true)"

echo "benchmarks/run.sh: engines: ${ENGINES[*]}$( ((REPEAT)) && echo ' (with repeat step)')"
echo "results: $RES"
sed 's/^/  /; s/\t/: /' "$RES/meta.tsv"
if [[ -n ${base_sha:-} && $base_sha != "$(sha256sum "$MANIFEST" | cut -d' ' -f1)" ]]; then
  echo "note: the dataset manifest differs from baseline.md's ($base_sha); compare engines within this run only"
fi

for e in "${ENGINES[@]}"; do run_engine "$e"; done
rm -rf "$WORK"

echo "=== done $(date +%T) ==="
if "$PY" "$HERE/report.py" "$RES" > "$RES/report.md" 2>> "$LOG"; then
  cat "$RES/report.md"
else
  echo "report.py failed; see $LOG"
fi
echo "results: $TSV"
echo "log:     $LOG"
echo "report:  python3 benchmarks/report.py $RES   (add --write docs/benchmarks.md to update the docs)"
rc=0
if (( ${#FAILED[@]} )); then
  echo "FAILED steps: ${FAILED[*]}"
  rc=1
fi
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $rc
