#!/usr/bin/env bash
# Refresh the chart library the dashboard loads (api/static/app/vendor/) from the npm registry.
#   bash api/static/app/refresh.sh
# Change the version below, run this, then run tests/browser/test_dashboard*.py. It rewrites vendor/,
# licenses/ and versions.json; the file is copied from the published package unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

ECHARTS=6.1.0
ZRENDER=6.1.0 # bundled inside echarts' dist/ build; packed for its licence

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "echarts@$ECHARTS" "zrender@$ZRENDER" >/dev/null
for tarball in *.tgz; do
  mkdir "${tarball%.tgz}"
  tar -xzf "$tarball" -C "${tarball%.tgz}"
done

rm -rf "$here/vendor.new" "$here/licenses.new"
mkdir "$here/vendor.new" "$here/licenses.new"
cp "echarts-$ECHARTS/package/dist/echarts.esm.min.js" "$here/vendor.new/"
cp "echarts-$ECHARTS/package/LICENSE" "$here/licenses.new/echarts.LICENSE"
cp "echarts-$ECHARTS/package/NOTICE" "$here/licenses.new/echarts.NOTICE"
cp "zrender-$ZRENDER/package/LICENSE" "$here/licenses.new/zrender.LICENSE"

rm -rf "$here/vendor" "$here/licenses"
mv "$here/vendor.new" "$here/vendor"
mv "$here/licenses.new" "$here/licenses"

ECHARTS=$ECHARTS ZRENDER=$ZRENDER python3 - "$here" <<'PY'
import base64
import hashlib
import json
import os
import pathlib
import sys

here = pathlib.Path(sys.argv[1])
packages = {"echarts": os.environ["ECHARTS"], "zrender": os.environ["ZRENDER"]}
sources = {"echarts.esm.min.js": ("echarts", "dist/echarts.esm.min.js")}
assets = {}
for name, (package, path) in sources.items():
    digest = hashlib.sha384((here / "vendor" / name).read_bytes()).digest()
    assets[name] = {
        "package": package,
        "version": packages[package],
        "path": path,
        "integrity": "sha384-" + base64.b64encode(digest).decode(),
    }
document = {"refresh": "bash api/static/app/refresh.sh", "packages": packages, "assets": assets}
(here / "versions.json").write_text(json.dumps(document, indent=2) + "\n")
PY
echo "refreshed $here"
