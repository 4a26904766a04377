"""C-FIND of `dicom-fhir listen` (Study Root and Patient Root, every level) with dcmtk's findscu
and pynetdicom, answered from the server's QIDO-RS; hostile identifiers first: a wrong level,
missing unique keys, 10,000 keys, a C-CANCEL, more matches than the listener gives."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE as PynetAE
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from dicom_instances import make_instance
from dimse_util import AE, identifier
from test_dcmtk import run, tool

TIMEOUT = 60


def associate(port: int, *abstracts):
    ae = PynetAE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    for abstract in abstracts or (StudyRootQueryRetrieveInformationModelFind,
                                  PatientRootQueryRetrieveInformationModelFind, Verification):
        ae.add_requested_context(abstract, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title=AE)
    assert assoc.is_established, "association not established"
    return assoc


def store(port: int, instances) -> None:
    ae = PynetAE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title=AE)
    assert assoc.is_established
    try:
        for inst in instances:
            ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(inst.data))
            status = assoc.send_c_store(ds)
            assert status is not None and status.Status == 0, status
    finally:
        assoc.release()


def find(port: int, query: Dataset, model=StudyRootQueryRetrieveInformationModelFind):
    """[(status, ErrorComment, identifier or None)] of one C-FIND, the final response last."""
    assoc = associate(port)
    try:
        out = []
        for status, ident in assoc.send_c_find(query, model):
            assert status is not None and "Status" in status, "no C-FIND response"
            out.append((status.Status, str(status.get("ErrorComment", "")), ident))
        return out
    finally:
        assoc.release()


@pytest.fixture(scope="module")
def stored(listener):
    """One patient with two studies (the first: two series, three instances), stored through the
    listener; a non-ASCII name (ISO_IR 100 in the file)."""
    pid = "FIND-" + generate_uid()[-12:]
    s1, s2 = generate_uid(), generate_uid()
    se1, se2 = generate_uid(), generate_uid()
    name = "Müller^Jürgen"
    common = dict(PatientID=pid, PatientName=name, SpecificCharacterSet="ISO_IR 100")
    instances = [
        make_instance(study=s1, series=se1, StudyDescription="FIND HEAD", Modality="CT",
                      InstanceNumber=n, StudyDate="20200102", **common) for n in (1, 2)
    ] + [make_instance(study=s1, series=se2, StudyDescription="FIND HEAD", Modality="CT",
                       InstanceNumber=1, StudyDate="20200102", **common),
         make_instance(study=s2, StudyDescription="FIND CHEST", StudyDate="20210304", **common)]
    store(listener.port, instances)
    return dict(pid=pid, studies=(s1, s2), series=(se1, se2), name=name,
                sops=[i.sop for i in instances])


def matches(responses):
    assert responses, "no response"
    final = responses[-1]
    pending = responses[:-1]
    assert all(s in (0xFF00, 0xFF01) and ident is not None for s, _, ident in pending), \
        [hex(s) for s, _, _ in responses]
    return final, [ident for _, _, ident in pending]


def test_study_level_by_patient_id_and_date_range(listener, stored):
    r = find(listener.port, identifier("STUDY", PatientID=stored["pid"], StudyDate="20200101-20201231",
                                  StudyInstanceUID="", PatientName="", StudyDescription="",
                                  NumberOfStudyRelatedInstances="", ModalitiesInStudy=""))
    (status, _, _), found = matches(r)
    assert status == 0
    assert [d.StudyInstanceUID for d in found] == [stored["studies"][0]]
    d = found[0]
    assert d.QueryRetrieveLevel == "STUDY"
    assert str(d.PatientName) == stored["name"], "decoded with the Specific Character Set"
    assert d.StudyDescription == "FIND HEAD"
    assert int(d.NumberOfStudyRelatedInstances) == 3
    assert "CT" in d.ModalitiesInStudy


def test_wildcards_and_uid_lists(listener, stored):
    r = find(listener.port, identifier("STUDY", PatientName="müller*", PatientID=stored["pid"],
                                  StudyInstanceUID="\\".join(stored["studies"]),
                                  StudyDescription="FIND*"))
    (status, _, _), found = matches(r)
    assert status == 0
    assert sorted(d.StudyInstanceUID for d in found) == sorted(stored["studies"])
    r = find(listener.port, identifier("STUDY", PatientID=stored["pid"], StudyDescription="*CHEST",
                                  StudyInstanceUID=""))
    assert [d.StudyInstanceUID for d in matches(r)[1]] == [stored["studies"][1]]


def test_series_and_image_levels(listener, stored):
    s1 = stored["studies"][0]
    r = find(listener.port, identifier("SERIES", StudyInstanceUID=s1, SeriesInstanceUID="", Modality="CT"))
    (status, _, _), found = matches(r)
    assert status == 0
    assert sorted(d.SeriesInstanceUID for d in found) == sorted(stored["series"])
    assert all(d.StudyInstanceUID == s1 for d in found)
    r = find(listener.port, identifier("IMAGE", StudyInstanceUID=s1, SeriesInstanceUID=stored["series"][0],
                                  SOPInstanceUID="", InstanceNumber=""))
    (status, _, _), found = matches(r)
    assert status == 0
    assert sorted(d.SOPInstanceUID for d in found) == sorted(stored["sops"][:2])


def test_patient_root_patient_level_gives_each_patient_once(listener, stored):
    r = find(listener.port, identifier("PATIENT", PatientID=stored["pid"], PatientName="", PatientBirthDate=""),
             PatientRootQueryRetrieveInformationModelFind)
    (status, _, _), found = matches(r)
    assert status == 0
    assert [d.PatientID for d in found] == [stored["pid"]], "two studies, one patient"
    r = find(listener.port, identifier("STUDY", PatientID=stored["pid"], StudyInstanceUID=""),
             PatientRootQueryRetrieveInformationModelFind)
    assert sorted(d.StudyInstanceUID for d in matches(r)[1]) == sorted(stored["studies"])


def test_unknown_keys_come_back_empty_and_unmatched_keys_say_so(listener, stored):
    s1 = stored["studies"][0]
    ident = identifier("IMAGE", StudyInstanceUID=s1, SeriesInstanceUID=stored["series"][1], SOPInstanceUID="")
    ident.add_new(0x00191001, "LO", "")
    # a patient attribute at IMAGE level is no key of this level: not used for matching (the
    # instance is found), returned with the instance's value
    ident.PatientName = "NOBODY"
    (status, _, _), found = matches(find(listener.port, ident))
    assert status == 0
    assert len(found) == 1 and found[0].SOPInstanceUID == stored["sops"][2]
    assert 0x00191001 in found[0] and not found[0][0x00191001].value
    assert str(found[0].PatientName) == stored["name"]
    assert find(listener.port, ident)[0][0] == 0xFF01, "a key not used for matching: 0xFF01"


@pytest.mark.parametrize("model,ident,code,why", [
    (StudyRootQueryRetrieveInformationModelFind, identifier("PATIENT", PatientID="x"), 0xA900, "PATIENT"),
    (StudyRootQueryRetrieveInformationModelFind, identifier("SERIES", SeriesInstanceUID=""), 0xA900, "StudyInstanceUID"),
    (StudyRootQueryRetrieveInformationModelFind,
     identifier("IMAGE", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.*"), 0xA900, "SeriesInstanceUID"),
    (StudyRootQueryRetrieveInformationModelFind, identifier("SERIES", StudyInstanceUID="1.2/../x"), 0xA900, "StudyInstanceUID"),
    (PatientRootQueryRetrieveInformationModelFind, identifier("STUDY", StudyInstanceUID=""), 0xA900, "PatientID"),
    (StudyRootQueryRetrieveInformationModelFind, identifier("FRAME"), 0xA900, "QueryRetrieveLevel"),
    (StudyRootQueryRetrieveInformationModelFind, Dataset(), 0xA900, "QueryRetrieveLevel"),
], ids=["patient-in-study-root", "series-without-study", "image-wildcard-series", "uid-path",
        "patient-root-study-without-patient", "unknown-level", "no-level"])
def test_malformed_identifiers_fail_with_a_comment(listener, model, ident, code, why):
    if not len(ident):
        ident.PatientID = ""
    r = find(listener.port, ident, model)
    assert len(r) == 1, [hex(s) for s, _, _ in r]
    status, comment, _ = r[0]
    assert status == code, hex(status)
    assert why in comment, comment


def test_findscu_with_10000_keys(listener, stored, tmp_path):
    s2 = stored["studies"][1]
    keys = []
    for i in range(10000):
        keys += ["-k", f"0009,{0x1000 + i:04x}"]
    out_dir = tmp_path / "rsp"
    out_dir.mkdir()
    r = run(tool("findscu"), "-S", "-X", "-od", str(out_dir), "-aet", "HOSTILE", "-aec", AE,
            "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={s2}", "-k", "PatientName",
            *keys, "127.0.0.1", str(listener.port))
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    files = sorted(out_dir.glob("rsp*.dcm"))
    assert len(files) == 1, r.stderr[-2000:]
    d = pydicom.dcmread(files[0])
    assert d.StudyInstanceUID == s2
    assert str(d.PatientName) == stored["name"]
    assert len(d) > 10000, "every key returned, empty"
    assert listener.alive()


def test_findscu_each_level(listener, stored, tmp_path):
    s1 = stored["studies"][0]
    for i, (flag, keys, n) in enumerate([
        ("-P", ["QueryRetrieveLevel=PATIENT", f"PatientID={stored['pid']}", "PatientName"], 1),
        ("-S", ["QueryRetrieveLevel=STUDY", f"PatientID={stored['pid']}", "StudyInstanceUID"], 2),
        ("-S", ["QueryRetrieveLevel=SERIES", f"StudyInstanceUID={s1}", "SeriesInstanceUID"], 2),
        ("-S", ["QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={s1}",
                f"SeriesInstanceUID={stored['series'][0]}", "SOPInstanceUID"], 2),
    ]):
        out_dir = tmp_path / f"l{i}"
        out_dir.mkdir()
        args = [a for k in keys for a in ("-k", k)]
        r = run(tool("findscu"), flag, "-X", "-od", str(out_dir), "-aet", "STORESCU", "-aec", AE,
                *args, "127.0.0.1", str(listener.port))
        assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
        assert len(list(out_dir.glob("rsp*.dcm"))) == n, (keys, r.stdout + r.stderr)


def test_cancel_stops_the_matches(listener, stored):
    """A C-CANCEL sent right behind the C-FIND (before any response is read): no match is sent,
    the final status is 0xFE00, and the association serves on."""
    assoc = associate(listener.port)
    try:
        cx = next(c for c in assoc.accepted_contexts
                  if c.abstract_syntax == StudyRootQueryRetrieveInformationModelFind)
        req = C_FIND()
        req.MessageID = 7
        req.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
        req.Priority = 2
        ident = identifier("STUDY", PatientID=stored["pid"], StudyInstanceUID="")
        req.Identifier = io.BytesIO(encode(ident, cx.transfer_syntax[0] == ImplicitVRLittleEndian, True))
        # pynetdicom's own send_c_find pauses its reactor (which would otherwise take the
        # responses as unexpected messages) while it waits for its responses: so do we
        assoc._reactor_checkpoint.clear()
        while not assoc._is_paused:  # the reactor finishes its current turn (microseconds)
            pass
        try:
            assoc.dimse.send_msg(req, cx.context_id)
            assoc.send_c_cancel(7, cx.context_id)
            statuses = []
            while True:
                _, rsp = assoc.dimse.get_msg(block=True)
                assert rsp is not None, "no response"
                statuses.append(rsp.Status)
                if rsp.Status not in (0xFF00, 0xFF01):
                    break
        finally:
            assoc._reactor_checkpoint.set()
        assert statuses == [0xFE00], [hex(s) for s in statuses]
        assert assoc.send_c_echo().Status == 0
    finally:
        assoc.release()


def test_more_matches_than_the_cap_is_a_stated_failure(server, start_listener, stored):
    capped = start_listener(server.base, "--max-find-results", "2")
    r = find(capped.port, identifier("IMAGE", StudyInstanceUID=stored["studies"][0],
                                SeriesInstanceUID=stored["series"][0], SOPInstanceUID=""))
    (status, _, _), found = matches(r)
    assert status == 0 and len(found) == 2, "exactly the cap: all given"
    capped1 = start_listener(server.base, "--max-find-results", "1")
    r = find(capped1.port, identifier("STUDY", PatientID=stored["pid"], StudyInstanceUID=""))
    (status, comment, _), found = matches(r)
    assert status == 0xA700, hex(status)
    assert "more than 1" in comment, comment
    assert len(found) == 1
