#!/usr/bin/env bash
# Make ./.venv ready to run and test Resguardo: a Python >= 3.11 virtual environment holding every pinned
# dependency of requirements/lock.txt (checked against its hashes) and the project itself, installed
# editable with its C extension built.
#
# Idempotent: a stamp in .venv records a fingerprint of what the install depends on (the lock file,
# pyproject.toml, setup.py, the C sources, this script and the interpreter); when nothing changed, a second
# run returns at once. Quiet unless something fails, then it shows what failed and what to do.
#
# On a bare Debian machine it needs, beside Python, the venv module, gcc and the Python headers. Run as
# root it installs them with apt-get; otherwise it says which packages to install and exits 1.
#
# Environment: RESGUARDO_PYTHON names the interpreter to use (default: the first of python3.11,
# python3.12, python3.13, python3.14, python3 that is 3.11 or newer).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
LOCK="requirements/lock.txt"
STAMP="$VENV/.bootstrap-stamp"
LOG="$(mktemp "${TMPDIR:-/tmp}/resguardo-bootstrap.XXXXXX")"
trap 'rm -f "$LOG" "$LOG.shown"' EXIT

say() { printf 'bootstrap: %s\n' "$*" >&2; }

fail() {
    say "$*"
    # pip warns about every configured local index that lacks a package: noise here, so leave it out.
    if grep -v -e "^WARNING: Location '.*' is ignored" -e '^[[:space:]]*$' "$LOG" >"$LOG.shown" 2>/dev/null \
        && [[ -s "$LOG.shown" ]]; then
        say "its output ended with:"
        tail -n 60 "$LOG.shown" >&2
    fi
    rm -f "$LOG.shown"
    exit 1
}

# Run a command with its output kept aside; on failure show that output and stop.
quietly() {
    local description="$1"
    shift
    : >"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        fail "failed to $description (command: $*)"
    fi
}

pick_python() {
    local candidate
    for candidate in ${RESGUARDO_PYTHON:-} python3.11 python3.12 python3.13 python3.14 python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        # pyenv shims exist for versions that are not selected and fail when run: try each one.
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Debian names the venv module and the headers after the interpreter's version.
debian_packages() {
    local python="$1" version default_version
    version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    default_version="$(/usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || true)"
    if [[ "$version" == "$default_version" ]]; then
        echo "python3-venv python3-dev"
    else
        echo "python${version}-venv python${version}-dev"
    fi
}

has_python_headers() {
    "$1" -c 'import os, sys, sysconfig
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' >/dev/null 2>&1
}

# Create .venv; print nothing and return 1 if this interpreter cannot (Debian ships venv apart).
create_venv() {
    rm -rf "$VENV"
    if "$1" -m venv "$VENV" >>"$LOG" 2>&1 && "$VENV/bin/python" -m pip --version >>"$LOG" 2>&1; then
        return 0
    fi
    rm -rf "$VENV"
    return 1
}

# Install (as root) or name (otherwise) the system packages the interpreter lacks.
ensure_system_packages() {
    local python="$1" missing=() venv_package dev_package
    read -r venv_package dev_package <<<"$(debian_packages "$python")"
    if [[ "$NEEDS_VENV_MODULE" == 1 ]]; then
        missing+=("$venv_package")
    fi
    if ! command -v gcc >/dev/null 2>&1; then
        missing+=("gcc")
    fi
    if ! has_python_headers "$python"; then
        missing+=("$dev_package")
    fi
    if ((${#missing[@]} == 0)); then
        return 0
    fi

    if [[ "$python" != /usr/bin/* ]]; then
        say "$python lacks: ${missing[*]} (the venv module, a C compiler or the Python headers)."
        say "it is not Debian's own Python: install what it lacks by the means it was installed with,"
        say "or set RESGUARDO_PYTHON to another interpreter (>= 3.11), then run this script again."
        exit 1
    fi
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing system packages: ${missing[*]}"
        say "install them, then run this script again:"
        say "    sudo apt-get install ${missing[*]}"
        exit 1
    fi
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quietly "update the package lists" apt-get update -q
    quietly "install ${missing[*]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# What the installed venv depends on: the lock file, setup.py, the C sources, this script, the
# interpreter, and the parts of pyproject.toml that shape the install (not the tools' settings, so that
# editing a lint rule does not reinstall everything).
fingerprint() {
    {
        sha256sum "$LOCK" setup.py scripts/bootstrap.sh
        find src \( -name '*.c' -o -name '*.h' \) -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
        "$VENV/bin/python" -c 'import json, sys, tomllib
with open("pyproject.toml", "rb") as file:
    config = tomllib.load(file)
install = [config.get("build-system"), config.get("project"), config.get("tool", {}).get("setuptools")]
print(json.dumps(install, sort_keys=True))
print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

venv_works() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1
}

# Fast path: nothing changed since the last successful run.
if venv_works && [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(fingerprint)" ]] \
    && "$VENV/bin/python" -c 'import resguardo' >/dev/null 2>&1; then
    exit 0
fi

started=$SECONDS
PYTHON="$(pick_python)" || fail "no Python 3.11 or newer found (tried ${RESGUARDO_PYTHON:-} python3.11 python3.12 python3.13 python3.14 python3); install Debian's python3 (>= 3.11) or set RESGUARDO_PYTHON"

NEEDS_VENV_MODULE=0
if ! venv_works && ! create_venv "$PYTHON"; then
    NEEDS_VENV_MODULE=1
fi
ensure_system_packages "$PYTHON"
if [[ "$NEEDS_VENV_MODULE" == 1 ]] && ! create_venv "$PYTHON"; then
    fail "could not create the virtual environment with $PYTHON -m venv"
fi
rm -f "$STAMP"

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
quietly "install the pinned dependencies of $LOCK" \
    "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$LOCK"
quietly "build and install resguardo (editable, with its C extension)" \
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
quietly "verify that the installed packages are consistent" "$VENV/bin/python" -m pip check
# The package is installed in place (editable); compile it once so that start-up does not, even where
# PYTHONDONTWRITEBYTECODE keeps Python from caching what it compiles.
quietly "compile the package" "$VENV/bin/python" -m compileall -q src

fingerprint >"$STAMP"
say ".venv ready ($("$VENV/bin/python" --version 2>&1), $((SECONDS - started)) s)"
