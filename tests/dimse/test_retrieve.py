"""C-GET and C-MOVE of `dicom-fhir listen`, answered from the server's QIDO-RS and WADO-RS: dcmtk's
getscu (study, series, image level) and movescu with a storescp destination, the files they write
byte-compared with the stored ones; pynetdicom for the counts and C-CANCEL. Hostile requests
first: no level, a key below the level, nothing matching, no storage context proposed, a peer
that goes away mid-retrieve, an unknown or refusing move destination, a server answering 401."""

from __future__ import annotations

import io
import subprocess
from contextlib import contextmanager
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
from dimse_util import AE, fresh_identity, identifier, split_part10
from fake_http import AnsweringHandler, loopback, outcome
from server_harness import free_port
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
    """An association of a C-GET/C-MOVE requester that is also the storage SCP of `storage`, and
    the SOP Instance UIDs it received."""
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


@contextmanager
def retriever(port: int, storage=(CTImageStorage,)):
    """get_assoc, released at the end."""
    assoc, got = get_assoc(port, storage)
    try:
        yield assoc, got
    finally:
        assoc.release()


def responses(gen) -> list[Dataset]:
    out = []
    for status, ident in gen:
        assert status is not None and "Status" in status, "no response"
        status.identifier = ident
        out.append(status)
    return out


def c_get(assoc, level: str, model=StudyRootQueryRetrieveInformationModelGet, **keys) -> list[Dataset]:
    """The responses of one C-GET of `keys` at `level`, the final one last."""
    return responses(assoc.send_c_get(identifier(level, **keys), model))


def c_move(assoc, destination: str, level: str, **keys) -> list[Dataset]:
    """The responses of one Study Root C-MOVE of `keys` at `level` to `destination`."""
    return responses(assoc.send_c_move(identifier(level, **keys), destination,
                                       StudyRootQueryRetrieveInformationModelMove))


def test_hostile_identifiers_get_a_status_not_a_hang(listener, stored):
    with retriever(listener.port) as (assoc, _):
        no_level = Dataset()
        no_level.StudyInstanceUID = stored["a"]
        for ident, code in [
            (no_level, 0xA900),
            (identifier("STUDY", StudyInstanceUID=stored["a"], SOPInstanceUID=stored["a_sops"][0]), 0xA900),
            (identifier("SERIES", SeriesInstanceUID=stored["series"][0]), 0xA900),
            (identifier("PATIENT", PatientID=stored["pid"]), 0xA900),  # not in the Study Root model
        ]:
            [final] = responses(assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet))
            assert final.Status == code, hex(final.Status)
            assert final.get("ErrorComment"), "a failure says why"
        # nothing matches: success, zero sub-operations
        [final] = c_get(assoc, "STUDY", StudyInstanceUID=generate_uid())
        assert final.Status == 0
        assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (0, 0)


def test_counts_in_pending_responses_and_a_requester_without_the_storage_context(listener, stored):
    with retriever(listener.port) as (assoc, got):
        r = c_get(assoc, "STUDY", StudyInstanceUID=stored["a"])
        assert [s.Status for s in r] == [0xFF00, 0xFF00, 0x0000]
        assert [s.NumberOfRemainingSuboperations for s in r[:-1]] == [2, 1]
        assert r[-1].NumberOfCompletedSuboperations == 3 and r[-1].NumberOfFailedSuboperations == 0
        assert sorted(got) == sorted(stored["a_sops"])
    # MR storage only: the CT instances cannot go (no transcoding, no other class): all fail
    with retriever(listener.port, storage=(MRImageStorage,)) as (assoc, got):
        final = c_get(assoc, "STUDY", StudyInstanceUID=stored["a"])[-1]
        assert final.Status == 0xA702, hex(final.Status)
        assert final.NumberOfFailedSuboperations == 3
        assert sorted(final.identifier.FailedSOPInstanceUIDList) == sorted(stored["a_sops"])
        assert got == []


def test_patient_root_get_of_a_patient_and_of_a_study_of_that_patient(listener, stored):
    patient_root = PatientRootQueryRetrieveInformationModelGet
    with retriever(listener.port) as (assoc, got):
        r = c_get(assoc, "PATIENT", patient_root, PatientID=stored["pid"])
        assert r[-1].Status == 0 and r[-1].NumberOfCompletedSuboperations == 9, r[-1]
        assert sorted(got) == sorted(stored["a_sops"] + stored["b_sops"])
        got.clear()
        # the study must be the patient's: another PatientID matches nothing
        r = c_get(assoc, "STUDY", patient_root, PatientID="SOMEONE-ELSE", StudyInstanceUID=stored["a"])
        assert r[-1].Status == 0 and r[-1].NumberOfCompletedSuboperations == 0 and got == []
        r = c_get(assoc, "STUDY", patient_root, StudyInstanceUID=stored["a"])
        assert r[-1].Status == 0xA900, "Patient Root needs the PatientID"


def test_c_cancel_stops_between_sub_operations(listener, stored):
    with retriever(listener.port) as (assoc, got):
        cx = next(c.context_id for c in assoc.accepted_contexts
                  if c.abstract_syntax == StudyRootQueryRetrieveInformationModelGet)
        out = []
        for status, _ in assoc.send_c_get(identifier("STUDY", StudyInstanceUID=stored["b"]),
                                          StudyRootQueryRetrieveInformationModelGet, msg_id=7):
            out.append(status)
            if status.Status == 0xFF00 and len(out) == 1:
                assoc.send_c_cancel(7, cx)
        final = out[-1]
        assert final.Status == 0xFE00, hex(final.Status)
        assert final.NumberOfCompletedSuboperations < 6
        assert final.NumberOfRemainingSuboperations == 6 - final.NumberOfCompletedSuboperations
        assert len(got) == final.NumberOfCompletedSuboperations


def test_a_peer_gone_mid_retrieve_does_not_stop_the_listener(listener, stored):
    assoc, _ = get_assoc(listener.port)
    for status, _ in assoc.send_c_get(identifier("STUDY", StudyInstanceUID=stored["b"]),
                                      StudyRootQueryRetrieveInformationModelGet):
        if status.Status == 0xFF00:
            assoc.abort()
            break
    assert listener.alive()
    assert echo(listener.port).returncode == 0, "serves the next association"


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
        with retriever(listener.port) as (assoc, _):
            [final] = c_move(assoc, "NOWHERE", "STUDY", StudyInstanceUID=stored["a"])
            assert final.Status == 0xA801, hex(final.Status)
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
        with retriever(listener.port) as (assoc, _):
            [final] = c_move(assoc, "OTHER", "STUDY", StudyInstanceUID=stored["a"])
            assert final.Status == 0xA801, hex(final.Status)
            assert "OTHER" in final.ErrorComment
    finally:
        scp.shutdown()


class Refusing(AnsweringHandler):
    """A FHIR server with the plugin that answers every DICOMweb request with 401."""

    def do_GET(self):
        if "/dicomweb/" in self.path:
            return self.answer(401, outcome("login", "no"))
        self.answer_plugin_get()


def test_a_server_answering_401_gives_a_failure_status(start_listener):
    http, base = loopback(Refusing)
    try:
        listener = start_listener(base)
        with retriever(listener.port) as (assoc, _):
            [final] = c_get(assoc, "STUDY", StudyInstanceUID=generate_uid())
            assert final.Status == 0x0124, hex(final.Status)
            assert "credentials" in final.ErrorComment
    finally:
        http.shutdown()
