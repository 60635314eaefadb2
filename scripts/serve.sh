#!/usr/bin/env bash
# Install Resguardo into ./.venv and run the whole service on the embedded default:
#   bash scripts/serve.sh [resguardo serve options, e.g. --port 8081 --data-dir DIR]
#
# `resguardo serve` runs the web console, the REST API, the scheduler and a worker in one process, on an
# SQLite catalog and a local repository in its data directory (default ~/.local/share/resguardo, or
# RESGUARDO_DATA_DIR). The first start creates an administrator and prints its password once (or takes
# it from RESGUARDO_ADMIN_PASSWORD); open http://127.0.0.1:8080/ and log in. Ctrl-C stops it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

printf '==> installing Resguardo into .venv (once; later runs skip this)\n' >&2
bash scripts/bootstrap.sh
printf '==> starting the service (Ctrl-C stops it)\n' >&2
exec "$ROOT/.venv/bin/resguardo" serve "$@"
