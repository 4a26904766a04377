#!/usr/bin/env bash
# Fetches the OHIF viewer (the prebuilt dist/ that the npm package @ohif/app ships) into
# .viewer/ohif, where the example server serves it at http://localhost:8080/ (see
# docs/dicomweb.md, "Viewer"). Nothing of OHIF is committed; the version and the tarball's
# integrity hash are pinned here and checked.
#
#   scripts/fetch-viewer.sh        # idempotent: does nothing when the pinned version is in place
#
# Needs npm (Node.js) and the npm registry once; later runs are offline. About 50 MB to
# download, 200 MB unpacked.
set -euo pipefail

OHIF_VERSION=3.13.2
OHIF_INTEGRITY=sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.viewer/ohif"
stamp="$dest/.dicom-fhir-ohif-version"

if [ -f "$dest/index.html" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$OHIF_VERSION $OHIF_INTEGRITY" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || {
  echo "fetch-viewer.sh: npm not found; install Node.js 18+ (Debian: apt-get install nodejs npm) to get the OHIF viewer." >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-viewer.sh: fetching @ohif/app@$OHIF_VERSION (prebuilt OHIF viewer) ..."
# npm pack takes the tarball only (from npm's cache when it is there), not the app's build dependencies.
(cd "$work" && npm pack --silent --prefer-offline "@ohif/app@$OHIF_VERSION" >/dev/null)
tgz="$work/ohif-app-$OHIF_VERSION.tgz"
[ -f "$tgz" ] || { echo "fetch-viewer.sh: npm pack produced no $tgz" >&2; exit 1; }
actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$actual" != "$OHIF_INTEGRITY" ]; then
  echo "fetch-viewer.sh: integrity mismatch for @ohif/app@$OHIF_VERSION: got $actual" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/dist
[ -f "$work/package/dist/index.html" ] || { echo "fetch-viewer.sh: no dist/index.html in the package" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/package/dist" "$dest"
echo "$OHIF_VERSION $OHIF_INTEGRITY" >"$stamp"
echo "fetch-viewer.sh: OHIF $OHIF_VERSION in $dest"
