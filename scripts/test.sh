#!/usr/bin/env bash
# Install everything Resguardo needs into ./.venv (scripts/bootstrap.sh, fast when nothing changed), then
# run every check (scripts/check.sh). Arguments are passed to pytest. This is what CI runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh
exec bash scripts/check.sh "$@"
