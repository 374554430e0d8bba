#!/usr/bin/env bash
# Installs the real servers the test-suite starts on loopback (idempotent).
#
#   - OpenSSH sshd (SFTP) and SoftHSM2 from Debian packages (needs root);
#   - Azurite (Azure Blob emulator) from npm, project-local in .test-servers/.
#
# Python-side servers (moto_server, fake-gcs-server, pyftpdlib) come from the
# `test` extra of pyproject.toml. Fast when everything is already present.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
AZURITE_VERSION="3.35.0"
SERVERS_DIR="$ROOT/.test-servers"

log() { printf 'install-test-servers: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    else
        SUDO=""
    fi
    log "installing ${missing[*]} (apt)"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server softhsm2 >/dev/null
fi
# sshd refuses to start without its privilege-separation directory.
if [ ! -d /run/sshd ]; then
    mkdir -p /run/sshd 2>/dev/null || sudo mkdir -p /run/sshd || true
fi

# --- Azurite (npm, project-local) ------------------------------------------
azurite_pkg="$SERVERS_DIR/node_modules/azurite/package.json"
installed_version=""
if [ -f "$azurite_pkg" ]; then
    installed_version="$(node -p "require('$azurite_pkg').version" 2>/dev/null || true)"
fi
if [ "$installed_version" != "$AZURITE_VERSION" ] \
    || [ ! -x "$SERVERS_DIR/node_modules/.bin/azurite-blob" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        log "npm missing: installing nodejs and npm (apt)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    log "installing azurite@$AZURITE_VERSION into $SERVERS_DIR"
    mkdir -p "$SERVERS_DIR"
    [ -f "$SERVERS_DIR/package.json" ] \
        || printf '{\n  "name": "keyark-test-servers",\n  "private": true\n}\n' >"$SERVERS_DIR/package.json"
    npm install --prefix "$SERVERS_DIR" --no-audit --no-fund --loglevel=error \
        "azurite@$AZURITE_VERSION" >/dev/null
fi

log "ok (sshd, softhsm2, azurite $AZURITE_VERSION)"
