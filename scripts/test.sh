#!/usr/bin/env bash
# Install everything Resguardo needs into ./.venv (scripts/bootstrap.sh, fast when nothing changed) and the
# services the tests start (scripts/test-services.sh: OpenSSH, PostgreSQL), then run every check (scripts/check.sh).
# Arguments are passed to pytest. This is what CI runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh
bash scripts/test-services.sh
exec bash scripts/check.sh "$@"
