#!/usr/bin/env bash
# Make sure the programs that the tests run as real services are installed: OpenSSH's server and client
# (the SFTP tests start their own sshd on 127.0.0.1, on a free port, and stop it at the end) and
# PostgreSQL's server (the catalog tests start their own cluster with initdb and pg_ctl, likewise),
# MariaDB's server and client (the database source tests start their own mariadbd likewise), and
# Chromium with its driver (the console's tests drive a headless Chromium against a server on 127.0.0.1).
#
# Idempotent: does nothing when /usr/sbin/sshd, ssh-keygen, /usr/lib/postgresql/*/bin/initdb,
# /usr/sbin/mariadbd, /usr/bin/mariadb-dump, /usr/bin/chromium and /usr/bin/chromedriver are there.
# Otherwise, as root on Debian, it installs what is missing (openssh-server and openssh-client,
# postgresql, mariadb-server and mariadb-client, chromium and chromium-driver) with apt-get,
# without starting the system's services (a policy-rc.d refuses service starts during the install)
# and, where systemd runs, leaves those services disabled, so nothing listens on port 22, 5432 or 3306
# because of the tests. Not root: it names the packages to install and
# exits 1. Called by scripts/test.sh before the checks.
set -euo pipefail

SSHD=/usr/sbin/sshd
POLICY=/usr/sbin/policy-rc.d

say() { printf 'test-services: %s\n' "$*" >&2; }

has_postgresql() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

PACKAGES=()
if [[ ! -x $SSHD ]] || ! command -v ssh-keygen >/dev/null 2>&1; then
    PACKAGES+=(openssh-server openssh-client)
fi
if ! has_postgresql; then
    PACKAGES+=(postgresql)
fi
if [[ ! -x /usr/sbin/mariadbd ]] || [[ ! -x /usr/bin/mariadb-dump ]]; then
    PACKAGES+=(mariadb-server mariadb-client)
fi
if [[ ! -x /usr/bin/chromium ]] || [[ ! -x /usr/bin/chromedriver ]]; then
    PACKAGES+=(chromium chromium-driver)
fi
if ((${#PACKAGES[@]} == 0)); then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${PACKAGES[*]}; the SFTP tests need OpenSSH, the catalog tests PostgreSQL, the database source tests MariaDB, the console tests Chromium."
    say "install them, then run again:"
    say "    sudo apt-get install ${PACKAGES[*]}"
    say "(the tests start their own servers on 127.0.0.1; the system's services need not run)"
    exit 1
fi

say "installing ${PACKAGES[*]} (the tests start their own servers; the system services are not started)"
export DEBIAN_FRONTEND=noninteractive
own_policy=0
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\n# left by resguardo scripts/test-services.sh during an install; removed after it\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    own_policy=1
fi
cleanup() { if ((own_policy)); then rm -f "$POLICY"; fi; }
trap cleanup EXIT

log="$(mktemp "${TMPDIR:-/tmp}/resguardo-test-services.XXXXXX")"
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } >"$log" 2>&1; then
    say "apt-get failed; its output ended with:"
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now ssh.service ssh.socket postgresql.service mariadb.service >/dev/null 2>&1 || true
fi
[[ -x $SSHD ]] || { say "the install finished but $SSHD is still missing"; exit 1; }
has_postgresql || { say "the install finished but /usr/lib/postgresql/*/bin/initdb is still missing"; exit 1; }
[[ -x /usr/sbin/mariadbd ]] || { say "the install finished but /usr/sbin/mariadbd is still missing"; exit 1; }
say "installed: ${PACKAGES[*]}"
