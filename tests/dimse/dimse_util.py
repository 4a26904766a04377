"""Helpers of the DIMSE tests: what a Part-10 file's data set bytes are, a Query/Retrieve
identifier, and QIDO/WADO-RS of one instance on the example server's DICOMweb facade."""

from __future__ import annotations

import io
import os
import random
import struct
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset

ROOT = Path(__file__).resolve().parents[2]

# The listener's AE title, and the calling AE titles the session's listener allows.
AE = "DICOMFHIR"
ALLOWED = ["STORESCU", "ECHOSCU", "PYNETDICOM", "HOSTILE"]

# One corpus file per transfer syntax (distinct SOP Instance UIDs and consistent patients), and
# the storescu option that makes it propose that transfer syntax (first, for an uncompressed one):
# otherwise storescu converts to an uncompressed one itself before sending, or fails to. -R: only
# the contexts the file needs.
CORPUS = [
    ("pydicom/rtplan.dcm", "1.2.840.10008.1.2", ["-xi"]),
    ("pydicom/CT_small.dcm", "1.2.840.10008.1.2.1", ["-xe"]),
    ("pydicom/image_dfl.dcm", "1.2.840.10008.1.2.1.99", ["-xd"]),
    ("pydicom/SC_rgb_small_odd_big_endian.dcm", "1.2.840.10008.1.2.2", ["-xb"]),
    ("pydicom/SC_rgb_small_odd_jpeg.dcm", "1.2.840.10008.1.2.4.50", ["-xy"]),
    ("pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm", "1.2.840.10008.1.2.4.70", ["-xs"]),
    ("pydicom-data/emri_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", ["-xt"]),
    ("pydicom/MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90", ["-xv"]),
    ("pydicom/SC_rgb_gdcm_KY.dcm", "1.2.840.10008.1.2.4.91", ["-xw"]),
    ("pydicom/SC_rgb_rle.dcm", "1.2.840.10008.1.2.5", ["-xr"]),
]

def cli() -> str:
    """The CLI under test: $DICOMFHIR_CLI, else target/release/dicom-fhir."""
    path = os.environ.get("DICOMFHIR_CLI", str(ROOT / "target" / "release" / "dicom-fhir"))
    if not Path(path).is_file():
        pytest.fail(f"{path} missing: build it (scripts/dimse-test.sh does)")
    return path


def identifier(level: str, **keys) -> Dataset:
    """A C-FIND/C-GET/C-MOVE identifier: QueryRetrieveLevel `level` and `keys` (keyword=value)."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


DICOM_JSON = "application/dicom+json"
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def split_part10(data: bytes) -> tuple[str, bytes]:
    """(transfer syntax UID, the data set bytes after the File Meta Information)."""
    assert data[128:132] == b"DICM", "not a Part-10 file"
    assert data[132:136] == b"\x02\x00\x00\x00" and data[136:138] == b"UL"
    (group_length,) = struct.unpack("<I", data[140:144])
    end = 144 + group_length
    meta = data[132:end]
    ts = None
    pos = 0
    while pos < len(meta):
        group, element = struct.unpack("<HH", meta[pos:pos + 4])
        vr = meta[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV"):
            (length,) = struct.unpack("<I", meta[pos + 8:pos + 12])
            start = pos + 12
        else:
            (length,) = struct.unpack("<H", meta[pos + 6:pos + 8])
            start = pos + 8
        if (group, element) == (0x0002, 0x0010):
            ts = meta[start:start + length].rstrip(b"\0 ").decode()
        pos = start + length
    assert ts, "no Transfer Syntax UID in the file meta"
    return ts, data[end:]


def qido_instances(base: str, study: str, **params) -> list[dict]:
    r = requests.get(f"{base}/dicomweb/studies/{study}/instances", params=params,
                     headers={"Accept": DICOM_JSON}, timeout=60)
    assert r.status_code in (200, 204), f"QIDO {r.status_code}: {r.text[:300]}"
    return r.json() if r.status_code == 200 and r.content else []


def wado_instance(base: str, study: str, series: str, sop: str) -> bytes:
    r = requests.get(f"{base}/dicomweb/studies/{study}/series/{series}/instances/{sop}",
                     headers={"Accept": WADO_ACCEPT}, timeout=60)
    assert r.status_code == 200, f"WADO-RS {r.status_code}: {r.text[:300]}"
    content_type = r.headers["Content-Type"]
    boundary = next(p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";")
                    if p.strip().startswith("boundary="))
    parts = [chunk for chunk in r.content.split(b"--" + boundary.encode())[1:]
             if not chunk.startswith(b"--")]
    assert len(parts) == 1, f"{len(parts)} parts"
    body = parts[0].split(b"\r\n\r\n", 1)[1]
    assert body.endswith(b"\r\n")
    return body[:-2]


def _same_length_uid(uid: str, rng: random.Random) -> str:
    """Another valid UID of the same length: the last component made of fresh random digits."""
    head, _, last = uid.rpartition(".")
    assert len(last) >= 4, f"{uid}: last component too short to vary"
    fresh = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(len(last) - 1))
    return f"{head}.{fresh}"


def fresh_identity(data: bytes, mapping: dict | None = None) -> tuple[bytes, dict, dict]:
    """The Part-10 file with new Study, Series and SOP Instance UIDs of the same lengths, put in
    place byte for byte (the encoding and every other byte stay as in the corpus file); and the
    new UIDs by keyword, and the old-to-new mapping (give it back to give another file with the
    same UIDs the same new ones). Not for deflated files (their data set bytes are compressed)."""
    rng = random.Random()
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    olds = {k: str(getattr(ds, k)) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    mapping = dict(mapping or {})
    for old in olds.values():
        mapping.setdefault(old, _same_length_uid(old, rng))
    out = data
    for old in sorted(set(olds.values()), key=len, reverse=True):
        assert old.encode() in out, old
        out = out.replace(old.encode(), mapping[old].encode())
    # A corpus file whose meta names another SOP Instance UID (rtplan.dcm): the meta's made to
    # match, as a sender takes the command's UID from it.
    meta_uid = str(ds.file_meta.get("MediaStorageSOPInstanceUID", ""))
    sop = olds["SOPInstanceUID"]
    if meta_uid and meta_uid != sop and meta_uid.encode() in out:
        assert len(meta_uid) == len(sop), "meta UID of another length"
        out = out.replace(meta_uid.encode(), mapping[sop].encode(), 1)
    return out, {k: mapping[v] for k, v in olds.items()}, mapping
