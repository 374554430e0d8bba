#!/usr/bin/env bash
# Vendor the dashboard's JavaScript from the npm registry (no CDN at run time).
#
# Installs the pinned npm packages into a scratch directory and copies their minified
# files into src/keyark/server/dashboard/static/vendor/, writing VENDOR.txt (package,
# version, file, sha256). The copies are committed; run this again only to upgrade.
# (The PyPI packages named "htmx" and "uplot" are unrelated projects.)
set -euo pipefail

HTMX_VERSION="2.0.11"
UPLOT_VERSION="1.6.32"

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/keyark/server/dashboard/static/vendor"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cd "$scratch"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "htmx.org@$HTMX_VERSION" "uplot@$UPLOT_VERSION" >/dev/null

mkdir -p "$vendor"
copy() {  # package version source-file target-name
    cp "node_modules/$1/$3" "$vendor/$4"
    printf '%s %s %s %s\n' "$1" "$2" "$4" "$(sha256sum "$vendor/$4" | cut -d' ' -f1)"
}
{
    echo "# Vendored by scripts/vendor_js.sh from the npm registry: package version file sha256"
    copy htmx.org "$HTMX_VERSION" dist/htmx.min.js htmx.min.js
    copy uplot "$UPLOT_VERSION" dist/uPlot.iife.min.js uPlot.iife.min.js
    copy uplot "$UPLOT_VERSION" dist/uPlot.min.css uPlot.min.css
    copy htmx.org "$HTMX_VERSION" LICENSE htmx.LICENSE.txt
    copy uplot "$UPLOT_VERSION" LICENSE uPlot.LICENSE.txt
} >"$vendor/VENDOR.txt"
cat "$vendor/VENDOR.txt"
