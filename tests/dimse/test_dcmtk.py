"""`dicom-fhir listen` with dcmtk's echoscu and storescu: C-ECHO, calling/called AE title checks,
and C-STORE of corpus files in each transfer syntax, each then found by QIDO and retrieved by
WADO-RS with the data set bytes the client sent (stored as is, no transcoding)."""

from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest

from dicom_instances import data_dir
from dimse_util import AE, CORPUS, qido_instances, split_part10, wado_instance


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} missing: scripts/dimse-test.sh installs dcmtk")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def echo(port: int, calling: str = "ECHOSCU", called: str = AE) -> subprocess.CompletedProcess:
    return run(tool("echoscu"), "-v", "-aet", calling, "-aec", called, "127.0.0.1", str(port))


def test_echoscu(listener):
    r = echo(listener.port)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Received Echo Response (Success)" in r.stdout + r.stderr


def test_calling_ae_not_in_the_allow_list_is_rejected(listener):
    r = echo(listener.port, calling="INTRUDER")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Association Rejected" in out, out
    assert "Calling AE Title Not Recognized" in out, out
    assert echo(listener.port).returncode == 0, "an allowed caller after a rejected one"


def test_called_ae_title_must_be_ours(listener):
    r = echo(listener.port, called="SOMEONE-ELSE")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Called AE Title Not Recognized" in out, out




@pytest.mark.parametrize("name,ts,options", CORPUS, ids=[c[1] for c in CORPUS])
def test_storescu_stores_each_transfer_syntax_as_sent(listener, server, name, ts, options):
    path = data_dir() / name
    file_ts, file_data_set = split_part10(path.read_bytes())
    assert file_ts == ts, f"{name} is {file_ts}"
    r = run(tool("storescu"), "-v", "-R", *options, "-aet", "STORESCU", "-aec", AE,
            "127.0.0.1", str(listener.port), str(path))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "Received Store Response (Success)" in out, out

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    found = qido_instances(server.base, ds.StudyInstanceUID, SOPInstanceUID=ds.SOPInstanceUID)
    assert len(found) == 1, found
    assert found[0]["00080018"]["Value"] == [ds.SOPInstanceUID]
    stored = wado_instance(server.base, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    stored_ts, _ = split_part10(stored)
    assert stored_ts == ts, "stored in another transfer syntax than sent"
    # storescu re-encodes what it reads (lengths, padding), so the bytes it sends are not the
    # file's: the data set must be the same; byte identity with what the client sent is checked
    # with pynetdicom, which sends a file's bytes as they are (test_pynetdicom.py).
    sent = pydicom.dcmread(path)
    got = pydicom.dcmread(pydicom.filebase.DicomBytesIO(stored))
    assert same_elements(got, sent)
    assert got.file_meta.SourceApplicationEntityTitle.strip() == "STORESCU"


def same_elements(a, b) -> bool:
    """Equal top-level values (byte values compared without their trailing pad byte)."""
    def values(ds):
        out = {}
        for elem in ds:
            if elem.tag == 0xFFFCFFFC:  # Data Set Trailing Padding: dcmtk drops it
                continue
            v = elem.value
            if isinstance(v, bytes):
                v = v.rstrip(b"\0")
            out[elem.tag] = v
        return out
    va, vb = values(a), values(b)
    assert va.keys() == vb.keys(), set(va) ^ set(vb)
    for tag in va:
        assert va[tag] == vb[tag], f"{tag}: {str(va[tag])[:80]} != {str(vb[tag])[:80]}"
    return True
