#!/usr/bin/env bash
# Make sure the programs that the tests run as real services are installed: OpenSSH's server and client
# (the SFTP tests start their own sshd on 127.0.0.1, on a free port, and stop it at the end).
#
# Idempotent: does nothing when /usr/sbin/sshd and ssh-keygen are there. Otherwise, as root on Debian, it
# installs openssh-server and openssh-client with apt-get, without starting the system's SSH service
# (a policy-rc.d refuses service starts during the install) and, where systemd runs, leaves that
# service disabled, so no sshd listens on port 22 because of the tests. Not root: it names the packages
# to install and exits 1. Called by scripts/test.sh before the checks.
set -euo pipefail

SSHD=/usr/sbin/sshd
PACKAGES=(openssh-server openssh-client)
POLICY=/usr/sbin/policy-rc.d

say() { printf 'test-services: %s\n' "$*" >&2; }

if [[ -x $SSHD ]] && command -v ssh-keygen >/dev/null 2>&1; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    say "$SSHD or ssh-keygen is missing; the SFTP tests need OpenSSH. Install it, then run again:"
    say "    sudo apt-get install ${PACKAGES[*]}"
    say "(the tests start their own server on 127.0.0.1; the system's SSH service need not run)"
    exit 1
fi

say "installing ${PACKAGES[*]} (the tests start their own sshd; the system service is not started)"
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
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi
[[ -x $SSHD ]] || { say "the install finished but $SSHD is still missing"; exit 1; }
say "OpenSSH installed: $("$SSHD" -V 2>&1 | head -n 1)"
