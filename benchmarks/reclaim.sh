#!/usr/bin/env bash
# Time to reclaim space after forget: resguardo vs restic vs Borg on the shared dataset.
#
# Usage: bash benchmarks/reclaim.sh [engine ...]     (engines: resguardo restic borg; default all three)
#
# For each engine: a fresh working copy of /tmp/bench/data, init, backup (1), modify_dataset.py,
# backup (2); then, timed under /usr/bin/time, the engine's way of dropping backup (1) and giving its
# space back:
#   resguardo  forget --keep-last 1, then prune
#   restic     forget --keep-last 1 --prune
#   borg       prune --keep-last 1, then compact
# and the repository size (du -sb) before and after. Results: a TSV on standard output and in
# /tmp/bench/results-reclaim/<timestamp>/results.tsv.
#
# Environment: RESGUARDO, RESTIC, BORG (binaries; default: from PATH), DATA (default /tmp/bench/data),
#   BENCH_SHARED (folder with modify_dataset.py; default /work/shared/bench or ../../shared/bench).
set -euo pipefail

BENCH=/tmp/bench
DATA=${DATA:-$BENCH/data}
WORK=$BENCH/work-reclaim
REPOS=$BENCH/repos-reclaim
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESGUARDO=${RESGUARDO:-resguardo}
RESTIC=${RESTIC:-restic}
BORG=${BORG:-borg}
PASS=bench-passphrase
export RESTIC_PASSWORD=$PASS BORG_PASSPHRASE=$PASS RESGUARDO_PASSWORD=$PASS
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

die() { echo "reclaim.sh: error: $*" >&2; exit 2; }

ENGINES=("$@")
[[ ${#ENGINES[@]} -eq 0 ]] && ENGINES=(resguardo restic borg)
for engine in "${ENGINES[@]}"; do
  case $engine in resguardo|restic|borg) ;; *) die "unknown engine '$engine'" ;; esac
done
if [[ -z ${BENCH_SHARED:-} ]]; then
  for folder in "$HERE/../../shared/bench" /work/shared/bench; do
    [[ -f $folder/modify_dataset.py ]] && { BENCH_SHARED=$folder; break; }
  done
fi
[[ -f ${BENCH_SHARED:-}/modify_dataset.py ]] || die "modify_dataset.py not found; set BENCH_SHARED"
[[ -d $DATA ]] || die "dataset $DATA is missing; build it with make_dataset.sh in $BENCH_SHARED"

RESULTS=$BENCH/results-reclaim/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
printf 'engine\tseconds\tcpu_seconds\tpeak_rss_kb\tsize_before\tsize_after\n' | tee "$RESULTS/results.tsv"

run_engine() {  # engine subcommand...: run one engine's command on its repository
  local engine=$1 repo=$REPOS/$1
  shift
  case $engine in
    resguardo) "$RESGUARDO" --repo "$repo" "$@" ;;
    restic) "$RESTIC" --repo "$repo" --cache-dir "$BENCH/cache-reclaim" "$@" ;;
    borg) "$BORG" "$@" ;;
  esac
}

prepare() {  # engine: a repository with two backups of the dataset, the second after modification
  local engine=$1 repo=$REPOS/$1
  rm -rf "$WORK" "$repo" "$BENCH/cache-reclaim"
  cp -a "$DATA" "$WORK"
  mkdir -p "$REPOS"
  case $engine in
    resguardo) run_engine resguardo init >/dev/null ;;
    restic) run_engine restic init >/dev/null ;;
    borg) "$BORG" init -e repokey "$repo" >/dev/null ;;
  esac
  for round in 1 2; do
    [[ $round == 2 ]] && python3 "$BENCH_SHARED/modify_dataset.py" "$WORK" >/dev/null
    case $engine in
      resguardo) run_engine resguardo backup "$WORK" >/dev/null ;;
      restic) run_engine restic backup "$WORK" >/dev/null ;;
      borg) (cd "$WORK" && "$BORG" create "$repo::round-$round" . >/dev/null) ;;
    esac
  done
}

reclaim() {  # engine: drop the first backup and give its space back
  local engine=$1 repo=$REPOS/$1
  case $engine in
    resguardo) run_engine resguardo forget --keep-last 1 && run_engine resguardo prune ;;
    restic) run_engine restic forget --keep-last 1 --prune ;;
    borg) "$BORG" prune --keep-last 1 "$repo" && "$BORG" compact "$repo" ;;
  esac
}

for engine in "${ENGINES[@]}"; do
  prepare "$engine"
  sync
  before=$(du -sb "$REPOS/$engine" | cut -f1)
  export -f reclaim run_engine
  export REPOS RESGUARDO RESTIC BORG BENCH
  /usr/bin/time -v -o "$RESULTS/$engine.time" bash -c "reclaim $engine" >"$RESULTS/$engine.out" 2>&1 \
    || die "$engine failed; see $RESULTS/$engine.out"
  after=$(du -sb "$REPOS/$engine" | cut -f1)
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$RESULTS/$engine.time")
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$RESULTS/$engine.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$RESULTS/$engine.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$wall" "$cpu" "$rss" "$before" "$after" | tee -a "$RESULTS/results.tsv"
done
rm -rf "$WORK"
