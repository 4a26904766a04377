"""C-GET and C-MOVE of `dicom-fhir listen`, answered from the server's QIDO-RS and WADO-RS: dcmtk's
getscu (study, series, image level) and movescu with a storescp destination, the files they write
byte-compared with the stored ones; pynetdicom for the counts and C-CANCEL. Hostile requests
first: no level, a key below the level, nothing matching, no storage context proposed, a peer
that goes away mid-retrieve, an unknown or refusing move destination, a server answering 401."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE as PynetAE
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicom_instances import data_dir, make_instance
from dimse_util import AE, fresh_identity, split_part10
from test_dcmtk import echo, run, tool

TIMEOUT = 60


def post(base: str, data: bytes) -> None:
    r = requests.post(f"{base}/Binary", data=data, timeout=TIMEOUT,
                      headers={"Content-Type": "application/dicom", "Prefer": "return=minimal"})
    assert r.status_code in (200, 201), f"{r.status_code}: {r.text[:300]}"


@pytest.fixture(scope="module")
def stored(server):
    """Study A: 3 CT instances in 2 series; study B: 6 CT instances (for C-CANCEL); study C: the
    corpus' JPEG Baseline file. Stored with POST Binary; their bytes by SOP Instance UID."""
    a, b = generate_uid(), generate_uid()
    se1, se2 = generate_uid(), generate_uid()
    pid = "GET-" + generate_uid()[-10:]
    a_items = [make_instance(study=a, series=se1, PatientID=pid, InstanceNumber=n) for n in (1, 2)]
    a_items.append(make_instance(study=a, series=se2, PatientID=pid, InstanceNumber=1))
    b_items = [make_instance(study=b, PatientID=pid, InstanceNumber=n) for n in range(6)]
    jpeg, uids, _ = fresh_identity((data_dir() / "pydicom/SC_rgb_small_odd_jpeg.dcm").read_bytes())
    files = {i.sop: i.data for i in a_items + b_items}
    files[uids["SOPInstanceUID"]] = jpeg
    for data in files.values():
        post(server.base, data)
    return dict(a=a, b=b, c=uids["StudyInstanceUID"], series=(se1, se2), pid=pid,
                a_sops=[i.sop for i in a_items], b_sops=[i.sop for i in b_items],
                c_sop=uids["SOPInstanceUID"], files=files)


def received(out: Path) -> dict[str, bytes]:
    """The data sets of the files a dcmtk tool wrote, by SOP Instance UID."""
    found = {}
    for path in out.iterdir():
        data = path.read_bytes()
        found[str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)] = \
            split_part10(data)[1]
    return found


def assert_same_bytes(got: dict[str, bytes], stored: dict, sops) -> None:
    assert sorted(got) == sorted(sops)
    for sop in sops:
        assert got[sop] == split_part10(stored["files"][sop])[1], f"{sop}: data set differs"


def getscu(port: int, out: Path, *args: str) -> subprocess.CompletedProcess:
    out.mkdir()
    return run(tool("getscu"), "-v", "-S", "+B", "-aet", "PYNETDICOM", "-aec", AE, "-od", str(out),
               *args, "127.0.0.1", str(port))


def test_getscu_study_series_and_image_levels_send_the_stored_bytes(listener, stored, tmp_path):
    r = getscu(listener.port, tmp_path / "study", "-k", "QueryRetrieveLevel=STUDY",
               "-k", f"StudyInstanceUID={stored['a']}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_bytes(received(tmp_path / "study"), stored, stored["a_sops"])
    r = getscu(listener.port, tmp_path / "series", "-k", "QueryRetrieveLevel=SERIES",
               "-k", f"StudyInstanceUID={stored['a']}", "-k", f"SeriesInstanceUID={stored['series'][0]}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_bytes(received(tmp_path / "series"), stored, stored["a_sops"][:2])
    r = getscu(listener.port, tmp_path / "image", "-k", "QueryRetrieveLevel=IMAGE",
               "-k", f"StudyInstanceUID={stored['a']}", "-k", f"SeriesInstanceUID={stored['series'][1]}",
               "-k", f"SOPInstanceUID={stored['a_sops'][2]}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_bytes(received(tmp_path / "image"), stored, stored["a_sops"][2:])
    # a compressed instance goes in its stored transfer syntax, when the requester offers it
    r = getscu(listener.port, tmp_path / "jpeg", "+xy", "-k", "QueryRetrieveLevel=STUDY",
               "-k", f"StudyInstanceUID={stored['c']}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same_bytes(received(tmp_path / "jpeg"), stored, [stored["c_sop"]])


def get_assoc(port: int, storage=(CTImageStorage,)):
    ae = PynetAE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet, [ExplicitVRLittleEndian])
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelGet, [ExplicitVRLittleEndian])
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove, [ExplicitVRLittleEndian])
    ae.add_requested_context(Verification)
    for cls in storage:
        ae.add_requested_context(cls, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    got: list[str] = []

    def on_store(event):
        got.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    assoc = ae.associate("127.0.0.1", port, ae_title=AE,
                         ext_neg=[build_role(cls, scp_role=True) for cls in storage],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    return assoc, got


def level(lvl: str, **keys) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = lvl
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def responses(gen) -> list[Dataset]:
    out = []
    for status, ident in gen:
        assert status is not None and "Status" in status, "no response"
        status.identifier = ident
        out.append(status)
    return out


def test_hostile_identifiers_get_a_status_not_a_hang(listener, stored):
    assoc, _ = get_assoc(listener.port)
    try:
        no_level = Dataset()
        no_level.StudyInstanceUID = stored["a"]
        for ident, code in [
            (no_level, 0xA900),
            (level("STUDY", StudyInstanceUID=stored["a"], SOPInstanceUID=stored["a_sops"][0]), 0xA900),
            (level("SERIES", SeriesInstanceUID=stored["series"][0]), 0xA900),
            (level("PATIENT", PatientID=stored["pid"]), 0xA900),  # not in the Study Root model
        ]:
            [final] = responses(assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet))
            assert final.Status == code, hex(final.Status)
            assert final.get("ErrorComment"), "a failure says why"
        # nothing matches: success, zero sub-operations
        [final] = responses(assoc.send_c_get(level("STUDY", StudyInstanceUID=generate_uid()),
                                             StudyRootQueryRetrieveInformationModelGet))
        assert final.Status == 0
        assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (0, 0)
    finally:
        assoc.release()


def test_counts_in_pending_responses_and_a_requester_without_the_storage_context(listener, stored):
    assoc, got = get_assoc(listener.port)
    try:
        r = responses(assoc.send_c_get(level("STUDY", StudyInstanceUID=stored["a"]),
                                       StudyRootQueryRetrieveInformationModelGet))
        assert [s.Status for s in r] == [0xFF00, 0xFF00, 0x0000]
        assert [s.NumberOfRemainingSuboperations for s in r[:-1]] == [2, 1]
        assert r[-1].NumberOfCompletedSuboperations == 3 and r[-1].NumberOfFailedSuboperations == 0
        assert sorted(got) == sorted(stored["a_sops"])
    finally:
        assoc.release()
    # MR storage only: the CT instances cannot go (no transcoding, no other class): all fail
    assoc, got = get_assoc(listener.port, storage=(MRImageStorage,))
    try:
        r = responses(assoc.send_c_get(level("STUDY", StudyInstanceUID=stored["a"]),
                                       StudyRootQueryRetrieveInformationModelGet))
        final = r[-1]
        assert final.Status == 0xA702, hex(final.Status)
        assert final.NumberOfFailedSuboperations == 3
        assert sorted(final.identifier.FailedSOPInstanceUIDList) == sorted(stored["a_sops"])
        assert got == []
    finally:
        assoc.release()


def test_patient_root_get_of_a_patient_and_of_a_study_of_that_patient(listener, stored):
    assoc, got = get_assoc(listener.port)
    try:
        r = responses(assoc.send_c_get(level("PATIENT", PatientID=stored["pid"]),
                                       PatientRootQueryRetrieveInformationModelGet))
        assert r[-1].Status == 0 and r[-1].NumberOfCompletedSuboperations == 9, r[-1]
        assert sorted(got) == sorted(stored["a_sops"] + stored["b_sops"])
        got.clear()
        # the study must be the patient's: another PatientID matches nothing
        r = responses(assoc.send_c_get(level("STUDY", PatientID="SOMEONE-ELSE", StudyInstanceUID=stored["a"]),
                                       PatientRootQueryRetrieveInformationModelGet))
        assert r[-1].Status == 0 and r[-1].NumberOfCompletedSuboperations == 0 and got == []
        r = responses(assoc.send_c_get(level("STUDY", StudyInstanceUID=stored["a"]),
                                       PatientRootQueryRetrieveInformationModelGet))
        assert r[-1].Status == 0xA900, "Patient Root needs the PatientID"
    finally:
        assoc.release()


def test_c_cancel_stops_between_sub_operations(listener, stored):
    assoc, got = get_assoc(listener.port)
    try:
        cx = next(c.context_id for c in assoc.accepted_contexts
                  if c.abstract_syntax == StudyRootQueryRetrieveInformationModelGet)
        out = []
        for status, _ in assoc.send_c_get(level("STUDY", StudyInstanceUID=stored["b"]),
                                          StudyRootQueryRetrieveInformationModelGet, msg_id=7):
            out.append(status)
            if status.Status == 0xFF00 and len(out) == 1:
                assoc.send_c_cancel(7, cx)
        final = out[-1]
        assert final.Status == 0xFE00, hex(final.Status)
        assert final.NumberOfCompletedSuboperations < 6
        assert final.NumberOfRemainingSuboperations == 6 - final.NumberOfCompletedSuboperations
        assert len(got) == final.NumberOfCompletedSuboperations
    finally:
        assoc.release()


def test_a_peer_gone_mid_retrieve_does_not_stop_the_listener(listener, stored):
    assoc, _ = get_assoc(listener.port)
    for status, _ in assoc.send_c_get(level("STUDY", StudyInstanceUID=stored["b"]),
                                      StudyRootQueryRetrieveInformationModelGet):
        if status.Status == 0xFF00:
            assoc.abort()
            break
    assert listener.alive()
    assert echo(listener.port).returncode == 0, "serves the next association"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_movescu_to_a_storescp_destination(server, stored, start_listener, tmp_path):
    port = free_port()
    out = tmp_path / "dest"
    out.mkdir()
    dest = subprocess.Popen([tool("storescp"), "-aet", "STORESCP", "+B", "+xa", "-od", str(out),
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listener = start_listener(server.base, "--move-destination", f"STORESCP=127.0.0.1:{port}")
        r = run(tool("movescu"), "-v", "-S", "-aet", "PYNETDICOM", "-aec", AE, "-aem", "STORESCP",
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={stored['a']}",
                "127.0.0.1", str(listener.port))
        assert r.returncode == 0, r.stdout + r.stderr
        assert_same_bytes(received(out), stored, stored["a_sops"])
        # unknown destination
        assoc, _ = get_assoc(listener.port)
        try:
            [final] = responses(assoc.send_c_move(level("STUDY", StudyInstanceUID=stored["a"]),
                                                  "NOWHERE", StudyRootQueryRetrieveInformationModelMove))
            assert final.Status == 0xA801, hex(final.Status)
        finally:
            assoc.release()
    finally:
        dest.terminate()
        dest.wait(timeout=30)


def test_a_destination_refusing_the_association(server, stored, start_listener):
    dest = PynetAE(ae_title="REALNAME")
    dest.require_called_aet = True
    dest.add_supported_context(CTImageStorage)
    port = free_port()
    scp = dest.start_server(("127.0.0.1", port), block=False)
    try:
        listener = start_listener(server.base, "--move-destination", f"OTHER=127.0.0.1:{port}")
        assoc, _ = get_assoc(listener.port)
        try:
            [final] = responses(assoc.send_c_move(level("STUDY", StudyInstanceUID=stored["a"]),
                                                  "OTHER", StudyRootQueryRetrieveInformationModelMove))
            assert final.Status == 0xA801, hex(final.Status)
            assert "OTHER" in final.ErrorComment
        finally:
            assoc.release()
    finally:
        scp.shutdown()


class Refusing(BaseHTTPRequestHandler):
    """A FHIR server with the plugin that answers every DICOMweb request with 401."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if "/dicomweb/" in self.path:
            status, body = 401, {"resourceType": "OperationOutcome",
                                 "issue": [{"severity": "error", "code": "login", "diagnostics": "no"}]}
        elif self.path.startswith("/fhir/metadata"):
            status, body = 200, {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}
        else:
            status, body = 200, {"resourceType": "Bundle", "type": "searchset", "total": 1}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_server_answering_401_gives_a_failure_status(start_listener):
    http = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        listener = start_listener(f"http://127.0.0.1:{http.server_address[1]}/fhir")
        assoc, _ = get_assoc(listener.port)
        try:
            [final] = responses(assoc.send_c_get(level("STUDY", StudyInstanceUID=generate_uid()),
                                                 StudyRootQueryRetrieveInformationModelGet))
            assert final.Status == 0x0124, hex(final.Status)
            assert "credentials" in final.ErrorComment
        finally:
            assoc.release()
    finally:
        http.shutdown()
