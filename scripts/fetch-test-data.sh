#!/usr/bin/env bash
# Downloads the real DICOM test corpus from PyPI (pydicom and pydicom-data wheels) into .data/.
# Idempotent: does nothing when the corpus is already unpacked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.data"
if [ -f "$dest/.complete-v2" ]; then exit 0; fi
mkdir -p "$dest/wheels"
python3 -m pip download --quiet --no-deps -d "$dest/wheels" pydicom==3.0.2 pydicom-data==1.0.0
rm -rf "$dest/pydicom" "$dest/pydicom-charset" "$dest/pydicom-data"
python3 - "$dest" <<'PY'
import sys, zipfile, pathlib
dest = pathlib.Path(sys.argv[1])
for whl, prefix, out in [("pydicom-3.0.2-py3-none-any.whl", "pydicom/data/test_files/", "pydicom"),
                         ("pydicom-3.0.2-py3-none-any.whl", "pydicom/data/charset_files/", "pydicom-charset"),
                         ("pydicom_data-1.0.0-py3-none-any.whl", "data_store/data/", "pydicom-data")]:
    with zipfile.ZipFile(dest / "wheels" / whl) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                target = dest / out / name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(name))
PY
touch "$dest/.complete-v2"
echo "test corpus in $dest: $(find "$dest/pydicom" "$dest/pydicom-charset" "$dest/pydicom-data" -type f | wc -l) files"
