#!/usr/bin/env bash
# Refresh the GraphiQL assets the API serves (api/static/graphiql/) from the npm registry.
#   bash api/static/graphiql/refresh.sh
# Change a version below, run this, then run tests/browser/. It writes vendor/, licenses/ and
# versions.json; the files are copied from the published packages unchanged.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# The versions strawberry's own GraphiQL template loads (strawberry/static/graphiql.html).
GRAPHIQL=3.8.3
PLUGIN_EXPLORER=1.0.2
GRAPHIQL_EXPLORER=0.9.0 # bundled inside @graphiql/plugin-explorer's UMD build; packed for its licence
REACT=18.2.0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "@graphiql/plugin-explorer@$PLUGIN_EXPLORER" \
  "graphiql-explorer@$GRAPHIQL_EXPLORER" "react@$REACT" "react-dom@$REACT" >/dev/null
for tarball in *.tgz; do
  mkdir "${tarball%.tgz}"
  tar -xzf "$tarball" -C "${tarball%.tgz}"
done

rm -rf "$here/vendor.new" "$here/licenses.new"
mkdir "$here/vendor.new" "$here/licenses.new"
cp "graphiql-$GRAPHIQL/package/graphiql.min.js" "graphiql-$GRAPHIQL/package/graphiql.min.css" "$here/vendor.new/"
cp "graphiql-plugin-explorer-$PLUGIN_EXPLORER/package/dist/index.umd.js" "$here/vendor.new/plugin-explorer.umd.js"
cp "graphiql-plugin-explorer-$PLUGIN_EXPLORER/package/dist/style.css" "$here/vendor.new/plugin-explorer.css"
cp "react-$REACT/package/umd/react.production.min.js" "$here/vendor.new/"
cp "react-dom-$REACT/package/umd/react-dom.production.min.js" "$here/vendor.new/"
# Lodestar's own files (the page's bootstrap script and layout) stay as they are.
cp "$here"/vendor/lodestar-graphiql.* "$here/vendor.new/"

cp "graphiql-$GRAPHIQL/package/LICENSE" "$here/licenses.new/graphiql.LICENSE"
cp "react-$REACT/package/LICENSE" "$here/licenses.new/react.LICENSE"
cp "react-dom-$REACT/package/LICENSE" "$here/licenses.new/react-dom.LICENSE"
cp "graphiql-explorer-$GRAPHIQL_EXPLORER/package/LICENSE" "$here/licenses.new/graphiql-explorer.LICENSE"
{
  echo "@graphiql/plugin-explorer $PLUGIN_EXPLORER declares the MIT licence in its package.json and ships no"
  echo "LICENSE file. It is published from the graphql/graphiql repository, under this licence:"
  echo
  cat "graphiql-$GRAPHIQL/package/LICENSE"
} >"$here/licenses.new/plugin-explorer.LICENSE"

rm -rf "$here/vendor" "$here/licenses"
mv "$here/vendor.new" "$here/vendor"
mv "$here/licenses.new" "$here/licenses"

GRAPHIQL=$GRAPHIQL PLUGIN_EXPLORER=$PLUGIN_EXPLORER GRAPHIQL_EXPLORER=$GRAPHIQL_EXPLORER REACT=$REACT \
  python3 - "$here" <<'PY'
import base64
import hashlib
import json
import os
import pathlib
import sys

here = pathlib.Path(sys.argv[1])
packages = {
    "graphiql": os.environ["GRAPHIQL"],
    "@graphiql/plugin-explorer": os.environ["PLUGIN_EXPLORER"],
    "graphiql-explorer": os.environ["GRAPHIQL_EXPLORER"],
    "react": os.environ["REACT"],
    "react-dom": os.environ["REACT"],
}
sources = {
    "graphiql.min.js": ("graphiql", "graphiql.min.js"),
    "graphiql.min.css": ("graphiql", "graphiql.min.css"),
    "plugin-explorer.umd.js": ("@graphiql/plugin-explorer", "dist/index.umd.js"),
    "plugin-explorer.css": ("@graphiql/plugin-explorer", "dist/style.css"),
    "react.production.min.js": ("react", "umd/react.production.min.js"),
    "react-dom.production.min.js": ("react-dom", "umd/react-dom.production.min.js"),
}
assets = {}
for name, (package, path) in sources.items():
    digest = hashlib.sha384((here / "vendor" / name).read_bytes()).digest()
    assets[name] = {
        "package": package,
        "version": packages[package],
        "path": path,
        "integrity": "sha384-" + base64.b64encode(digest).decode(),
    }
document = {
    "refresh": "bash api/static/graphiql/refresh.sh",
    "packages": packages,
    "assets": assets,
}
(here / "versions.json").write_text(json.dumps(document, indent=2) + "\n")
PY
echo "refreshed $here"
