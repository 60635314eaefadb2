#!/usr/bin/env bash
# Show Resguardo at work on a real folder of this machine, from nothing to a verified restore:
#   bash scripts/demo.sh [FOLDER]        (FOLDER defaults to /usr/share/doc)
#
# It installs Resguardo into ./.venv (scripts/bootstrap.sh), then, in ./demo (removed and made anew on
# every run): creates an encrypted repository in ./demo/repository with a passphrase it generates into
# ./demo/passphrase (readable by you alone), unless RESGUARDO_PASSWORD is set; backs FOLDER up twice (the
# second run finds nothing new and is fast); lists the snapshots; restores the latest one into
# ./demo/restore; compares the restored tree with FOLDER; and reads back and verifies every stored byte.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }
fail() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

source_folder="${1:-/usr/share/doc}"
[[ -d "$source_folder" ]] || fail "$source_folder is not a folder; pass one to back up: bash scripts/demo.sh FOLDER"
source_folder="$(cd "$source_folder" && pwd -P)"

step "installing Resguardo into .venv (once; later runs skip this)"
bash scripts/bootstrap.sh
resguardo="$ROOT/.venv/bin/resguardo"
[[ -x "$resguardo" ]] || fail "the resguardo command is missing from .venv/bin; is the CLI written yet?"

demo="$ROOT/demo"
repository="$demo/repository"
restore="$demo/restore"
step "starting afresh in $demo"
rm -rf "$repository" "$restore" "$demo/passphrase"
mkdir -p "$demo"

options=(--repo "$repository")
if [[ -n "${RESGUARDO_PASSWORD:-}" ]]; then
    echo "using the passphrase in RESGUARDO_PASSWORD"
else
    (
        umask 077
        "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$demo/passphrase"
    )
    chmod 600 "$demo/passphrase"
    options+=(--password-file "$demo/passphrase")
    echo "generated a passphrase into $demo/passphrase (mode 600); keep it: without it the data is lost"
fi

# Exit code 3 means the backup was saved but some files could not be read (e.g. not readable by you).
backup() {
    local started=$SECONDS status=0
    "$resguardo" "${options[@]}" backup "$source_folder" || status=$?
    if ((status == 3)); then
        echo "demo: some files of $source_folder could not be read; they are missing from the snapshot"
    elif ((status != 0)); then
        fail "backup failed (exit $status)"
    fi
    echo "backup took $((SECONDS - started)) s"
    return "$status"
}

step "1/7 creating an encrypted repository in $repository"
"$resguardo" "${options[@]}" init

step "2/7 first backup of $source_folder ($(du -sh "$source_folder" 2>/dev/null | cut -f1))"
partial=0
backup || partial=1

step "3/7 second backup of $source_folder: unchanged, so nothing new is stored"
backup || partial=1

step "4/7 the snapshots in the repository"
"$resguardo" "${options[@]}" snapshots

step "5/7 restoring the latest snapshot into $restore"
"$resguardo" "${options[@]}" restore latest --target "$restore"

step "6/7 comparing $source_folder with $restore$source_folder"
if diff -r --no-dereference "$source_folder" "$restore$source_folder" >"$demo/diff.txt" 2>&1; then
    echo "identical: every file, folder and link came back"
    rm -f "$demo/diff.txt"
elif ((partial)); then
    echo "differences, as expected for the files that could not be read (see $demo/diff.txt):"
    head -n 20 "$demo/diff.txt"
else
    head -n 40 "$demo/diff.txt" >&2
    fail "the restored tree differs from $source_folder (full list in $demo/diff.txt)"
fi

step "7/7 checking the repository, reading back and verifying every stored byte"
"$resguardo" "${options[@]}" check --read-data

echo
echo "demo: done. Repository: $repository; restored tree: $restore$source_folder"
