#!/usr/bin/env bash
# Installs the real servers the test-suite starts on loopback (idempotent, fast when present).
#
#   - OpenSSH sshd (SFTP), SoftHSM2, acl (setfacl) and Prometheus: Debian packages (root, or sudo);
#   - Azurite (Azure Blob emulator): npm, project-local under .test-servers/.
#
# moto_server (S3), fake-gcs-server (GCS) and pyftpdlib (FTP/FTPS) come from the
# `test` extra in pyproject.toml (pip install -e '.[all,test]').
set -euo pipefail

cd "$(dirname "$0")/.."
AZURITE_VERSION="3.35.0"
SERVERS_DIR="$(pwd)/.test-servers"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

log() { printf 'install-test-servers: %s\n' "$*"; }

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Debian packages -------------------------------------------------------
if [ ! -x /usr/sbin/sshd ] || [ ! -e /usr/lib/softhsm/libsofthsm2.so ] \
    || ! command -v ssh-keygen >/dev/null 2>&1; then
    apt_install openssh-server softhsm2
fi
# setfacl/getfacl: the ACL round-trip tests (tests/reliability/test_sources.py).
command -v setfacl >/dev/null 2>&1 || apt_install acl
# Prometheus: the metrics tests scrape keyark with a real server (tests/e2e/test_metrics*.py).
command -v prometheus >/dev/null 2>&1 || apt_install --no-install-recommends prometheus
# gpg: the inventory's GnuPG keyring cases (tests/inventory_corpus.py, test_inventory_model.py).
command -v gpg >/dev/null 2>&1 || apt_install --no-install-recommends gnupg
# chromium + chromedriver: the dashboard's browser tests (tests/e2e/test_dashboard*.py).
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } \
    || apt_install chromium chromium-driver
# slapd + ldap-utils: the server's LDAP login tests start their own slapd.
{ [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null 2>&1; } || apt_install slapd ldap-utils
# tmux: keyark browse is driven in a real 80x24 terminal (tests/e2e/test_browse_terminal.py).
command -v tmux >/dev/null 2>&1 || apt_install tmux
# fuse3: keyark mount (tests/e2e/test_mount.py).
command -v fusermount3 >/dev/null 2>&1 || apt_install fuse3
# PostgreSQL: the fleet control plane's tests start their own cluster.
[ -x /usr/lib/postgresql/15/bin/initdb ] || apt_install postgresql
# sshd refuses to start without its privilege-separation directory.
[ -d /run/sshd ] || $SUDO mkdir -p /run/sshd

# --- Azurite (npm, project-local) ------------------------------------------
azurite_pkg="$SERVERS_DIR/node_modules/azurite/package.json"
installed=""
if [ -f "$azurite_pkg" ] && command -v node >/dev/null 2>&1; then
    installed="$(node -p "require('$azurite_pkg').version" 2>/dev/null || true)"
fi
if [ "$installed" != "$AZURITE_VERSION" ] || [ ! -x "$SERVERS_DIR/node_modules/.bin/azurite-blob" ]; then
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    log "npm install azurite@$AZURITE_VERSION into $SERVERS_DIR"
    mkdir -p "$SERVERS_DIR"
    [ -f "$SERVERS_DIR/package.json" ] \
        || printf '{\n  "name": "keyark-test-servers",\n  "private": true\n}\n' >"$SERVERS_DIR/package.json"
    npm install --prefix "$SERVERS_DIR" --no-audit --no-fund --loglevel=error \
        "azurite@$AZURITE_VERSION" >/dev/null
fi

log "ok: sshd, softhsm2, prometheus, azurite $AZURITE_VERSION"
