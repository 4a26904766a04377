"""`dicom-fhir listen` with pynetdicom and raw sockets, hostile input first: a peer that is not
DICOM, a silent peer, non-storage abstract syntaxes, a data set that is not the command's
instance, a truncated data set, a conflicting instance; then many concurrent associations while
hostile ones run; and the status when the FHIR server refuses, fails or is slow."""

from __future__ import annotations

import io
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE as PynetAE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import (
    CTImageStorage,
    ModalityWorklistInformationFind,
    Verification,
)

from dicom_instances import data_dir, make_instance
from dimse_util import AE, CORPUS, fresh_identity, qido_instances, split_part10, wado_instance
from fake_http import AnsweringHandler, loopback, outcome

TIMEOUT = 60
# A file path given to send_c_store is sent as it is: its file meta gives the command's UIDs and
# the bytes after it are the data set (otherwise pynetdicom decodes and re-encodes the file).
pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True


def associate(port: int, contexts, calling: str = "PYNETDICOM"):
    ae = PynetAE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, syntaxes)
    return ae.associate("127.0.0.1", port, ae_title=AE)


def store_path(port: int, path: Path, calling: str = "PYNETDICOM"):
    """C-STORE of a Part-10 file as it is (pynetdicom sends the bytes after its file meta)."""
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    assoc = associate(port, [(meta.MediaStorageSOPClassUID, [meta.TransferSyntaxUID])], calling)
    assert assoc.is_established, "association not established"
    try:
        return assoc.send_c_store(path)
    finally:
        assoc.release()


def echo_ok(port: int) -> bool:
    assoc = associate(port, [(Verification, [ExplicitVRLittleEndian])])
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return status is not None and status.Status == 0
    finally:
        assoc.release()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def failure(status) -> tuple[int, str]:
    assert status is not None and "Status" in status, "no C-STORE response"
    return status.Status, str(status.get("ErrorComment", ""))


def test_garbage_bytes_are_dropped_and_the_listener_serves_on(listener):
    for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 8,
                    b"\x01\x00\xff\xff\xff\xff" + b"\0" * 64):
        with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT) as s:
            s.sendall(garbage)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):  # the listener closes the connection (after an A-ABORT at most)
                pass
    assert echo_ok(listener.port)


def test_a_silent_peer_does_not_hold_up_others(listener):
    with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT):
        assert echo_ok(listener.port)


def test_non_storage_abstract_syntaxes_are_refused(listener):
    assoc = associate(listener.port, [(ModalityWorklistInformationFind, [ExplicitVRLittleEndian]),
                                      (Verification, [ExplicitVRLittleEndian])])
    assert assoc.is_established
    try:
        accepted = {c.abstract_syntax for c in assoc.accepted_contexts}
        rejected = {c.abstract_syntax for c in assoc.rejected_contexts}
        assert accepted == {Verification}
        assert rejected == {ModalityWorklistInformationFind}
    finally:
        assoc.release()


def test_data_set_of_another_instance_than_the_command_is_refused(listener, server, tmp_path):
    inst = make_instance()
    other = inst.sop[:-4] + ("1234" if not inst.sop.endswith("1234") else "4321")
    # the first occurrence is the file meta's (0002,0003): the command's Affected SOP Instance UID
    data = inst.data.replace(inst.sop.encode(), other.encode(), 1)
    assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == inst.sop
    code, comment = failure(store_path(listener.port, write(tmp_path, "mismatch.dcm", data)))
    assert code == 0xA900, hex(code)
    assert "SOP Instance UID" in comment
    assert qido_instances(server.base, inst.study) == []


def test_truncated_data_set_is_refused(listener, server, tmp_path):
    inst = make_instance()
    for cut in (len(inst.data) - 1000, 600):
        code, comment = failure(store_path(listener.port, write(tmp_path, f"cut{cut}.dcm", inst.data[:cut])))
        assert code & 0xF000 == 0xC000, hex(code)
        assert comment
    assert qido_instances(server.base, inst.study) == []


@pytest.mark.parametrize("name,ts", [(n, t) for n, t, _ in CORPUS if not t.endswith(".99")],
                         ids=[t for _, t, _ in CORPUS if not t.endswith(".99")])
def test_corpus_data_sets_are_stored_byte_for_byte(listener, server, tmp_path, name, ts):
    """Each transfer syntax, sent as the file's bytes (with fresh UIDs of the same length put in
    place, so that the dcmtk test's copy does not conflict): QIDO finds it, WADO-RS returns the
    very data set bytes that were sent, in the same transfer syntax. (Deflate: its bytes are
    compressed, so no UID can be put in place; it is covered by the dcmtk test.)"""
    data, uids, _ = fresh_identity((data_dir() / name).read_bytes())
    status = store_path(listener.port, write(tmp_path, "copy.dcm", data))
    assert status.Status == 0, status
    found = qido_instances(server.base, uids["StudyInstanceUID"], SOPInstanceUID=uids["SOPInstanceUID"])
    assert len(found) == 1
    stored = wado_instance(server.base, uids["StudyInstanceUID"], uids["SeriesInstanceUID"],
                           uids["SOPInstanceUID"])
    assert split_part10(stored) == (ts, split_part10(data)[1])


def test_conflicting_instance_gets_a_failure_status(listener, server, tmp_path):
    """The corpus has two files with one SOP Instance UID and other bytes (MR_small in JPEG 2000
    and in JPEG-LS; sent here with the same fresh UIDs): the first is stored, the second refused
    by the server, and the status says why."""
    first, uids, mapping = fresh_identity((data_dir() / "pydicom" / "MR_small_jp2klossless.dcm").read_bytes())
    second, uids2, _ = fresh_identity((data_dir() / "pydicom" / "MR_small_jpeg_ls_lossless.dcm").read_bytes(),
                                      mapping)
    assert uids2 == uids and first != second
    assert store_path(listener.port, write(tmp_path, "first.dcm", first)).Status == 0
    code, comment = failure(store_path(listener.port, write(tmp_path, "second.dcm", second)))
    assert code == 0xC409, hex(code)
    assert "409" in comment, comment
    stored = wado_instance(server.base, uids["StudyInstanceUID"], uids["SeriesInstanceUID"], uids["SOPInstanceUID"])
    assert split_part10(stored)[1] == split_part10(first)[1], "the first one stays"


def test_concurrent_associations_while_hostile_ones_run(listener, server, tmp_path):
    study = generate_uid()
    batches = [[make_instance(study=study, PatientID="DIMSE-CONCURRENT") for _ in range(3)] for _ in range(5)]
    truncated = write(tmp_path, "truncated.dcm", make_instance().data[:-500])

    def good(batch):
        paths = [write(tmp_path, f"{i.sop}.dcm", i.data) for i in batch]
        assoc = associate(listener.port, [(CTImageStorage, [ExplicitVRLittleEndian])])
        assert assoc.is_established
        try:
            return [assoc.send_c_store(p).Status for p in paths]
        finally:
            assoc.release()

    def hostile(n):
        if n % 2:
            with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT) as s:
                s.sendall(b"\x04\x00" + b"\xff" * 200)
                while s.recv(65536):
                    pass
            return None
        return store_path(listener.port, truncated, calling="HOSTILE").Status

    with ThreadPoolExecutor(max_workers=8) as pool:
        bad = [pool.submit(hostile, n) for n in range(4)]
        results = list(pool.map(good, batches))
    assert results == [[0, 0, 0]] * 5
    assert all(b.result() in (None,) or b.result() & 0xF000 == 0xC000 for b in bad)
    found = qido_instances(server.base, study)
    assert len(found) == 15
    one = batches[2][1]
    stored = wado_instance(server.base, study, one.series, one.sop)
    assert split_part10(stored)[1] == split_part10(one.data)[1]


class FakeFhir:
    """A loopback FHIR server with the plugin (metadata, the plugin's StructureDefinition) whose
    answer to POST Binary is set by the test; `posted` is set when one arrives, and the answer
    waits for `release`."""

    def __init__(self):
        self.status, self.body = 201, {}
        self.posted, self.release = threading.Event(), threading.Event()
        self.release.set()
        fake = self

        class Handler(AnsweringHandler):
            def do_GET(self):
                self.answer_plugin_get()

            def do_POST(self):
                body = self.body()
                fake.posted.set()
                fake.release.wait(TIMEOUT)
                if fake.status == 201:
                    return self.answer_stored(body)
                return self.answer(fake.status, fake.body)

        self.server, self.base = loopback(Handler)

    def close(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def fake_fhir():
    fake = FakeFhir()
    yield fake
    fake.close()


def test_success_only_after_the_server_answered_a_slow_server_holds_the_sender(
        fake_fhir, start_listener, tmp_path):
    listener = start_listener(fake_fhir.base, "--retries", "0")
    path = write(tmp_path, "slow.dcm", make_instance().data)
    fake_fhir.release.clear()
    result = {}
    sender = threading.Thread(target=lambda: result.setdefault("status", store_path(listener.port, path)))
    sender.start()
    assert fake_fhir.posted.wait(TIMEOUT), "the listener did not upload"
    sender.join(timeout=1)
    assert sender.is_alive(), "the C-STORE was answered before the server answered the upload"
    fake_fhir.release.set()
    sender.join(TIMEOUT)
    assert result["status"].Status == 0


@pytest.mark.parametrize("http,body,expected,says", [
    (422, outcome("invalid", "Not a DICOM thing we like"), 0xC000, "Not a DICOM thing"),
    (409, outcome("invalid", "stored already with other bytes"), 0xC409, "stored already"),
    (503, outcome("invalid", "database down"), 0xA700, "503"),
    (500, outcome("invalid", "boom"), 0xA700, "500"),
], ids=["422", "409", "503", "500"])
def test_server_refusals_and_failures_become_c_store_statuses(
        fake_fhir, start_listener, tmp_path, http, body, expected, says):
    listener = start_listener(fake_fhir.base, "--retries", "0")
    fake_fhir.status, fake_fhir.body = http, body
    code, comment = failure(store_path(listener.port, write(tmp_path, "x.dcm", make_instance().data)))
    assert code == expected, hex(code)
    assert says in comment, comment


def test_unreachable_server_is_out_of_resources(fake_fhir, start_listener, tmp_path):
    listener = start_listener(fake_fhir.base, "--retries", "0", "--timeout", "2")
    fake_fhir.close()  # gone after the listener's start-up check
    fake_fhir.server.server_close()
    code, comment = failure(store_path(listener.port, write(tmp_path, "x.dcm", make_instance().data)))
    assert code == 0xA700, hex(code)
    assert comment


def test_instance_over_the_size_limit_is_refused_without_reaching_the_server(
        fake_fhir, start_listener, tmp_path):
    listener = start_listener(fake_fhir.base, "--max-instance-mib", "1")
    big = make_instance().data + b"\0" * (1024 * 1024)  # data set past 1 MiB
    code, comment = failure(store_path(listener.port, write(tmp_path, "big.dcm", big)))
    assert code == 0xA700, hex(code)
    assert "larger than" in comment
    assert not fake_fhir.posted.is_set(), "the listener uploaded it anyway"
    assert echo_ok(listener.port)


# --- raw PDUs: what no well-behaved client library sends ------------------------------------------

def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def associate_rq(calling: str = "HOSTILE", max_pdu: int = 16384) -> bytes:
    """A-ASSOCIATE-RQ proposing CT Image Storage (context 1, Explicit VR Little Endian)."""
    context = _item(0x20, bytes([1, 0, 0, 0]) + _item(0x30, str(CTImageStorage).encode())
                    + _item(0x40, b"1.2.840.10008.1.2.1"))
    user = _item(0x50, _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, b"1.2.3.4"))
    body = (struct.pack(">HH", 1, 0) + AE.ljust(16).encode() + calling.ljust(16).encode() + b"\0" * 32
            + _item(0x10, b"1.2.840.10008.3.1.1.1") + context + user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def p_data(data: bytes, command: bool, last: bool, pc: int = 1) -> bytes:
    pdv = struct.pack(">IB", len(data) + 2, pc) + bytes([(1 if command else 0) | (2 if last else 0)]) + data
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def read_pdu(s: socket.socket) -> tuple[int, bytes] | None:
    head = b""
    while len(head) < 6:
        chunk = s.recv(6 - len(head))
        if not chunk:
            return None
        head += chunk
    kind, _, length = struct.unpack(">BBI", head)
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return kind, body


def ends_with_abort(s: socket.socket) -> bool:
    """Reads until the listener closes; whether it sent an A-ABORT (0x07) before."""
    kinds = []
    while (pdu := read_pdu(s)) is not None:
        kinds.append(pdu[0])
    return kinds[-1:] == [0x07]


@pytest.mark.parametrize("after_association", [
    p_data(b"\x08\x00" * 50, command=False, last=True),                       # a data set, no command
    b"".join(p_data(b"\0" * 16000, command=True, last=False) for _ in range(6)),  # a 96 KB command
    p_data(b"\xff" * 40, command=True, last=True),                             # a command set that is not one
    p_data(b"\0" * 200000, command=True, last=True),                           # a PDU over --max-pdu
    struct.pack(">BBI", 0x01, 0, 10) + b"\0" * 10,                             # a second A-ASSOCIATE-RQ
], ids=["data-without-command", "endless-command", "garbage-command", "pdu-too-large", "associate-again"])
def test_protocol_violations_abort_only_that_association(listener, after_association):
    with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT) as bystander_sock:
        bystander_sock.sendall(associate_rq())
        assert read_pdu(bystander_sock)[0] == 0x02, "bystander association not accepted"
        with socket.create_connection(("127.0.0.1", listener.port), timeout=TIMEOUT) as s:
            s.sendall(associate_rq(max_pdu=16384))
            kind, _ = read_pdu(s)
            assert kind == 0x02, "A-ASSOCIATE-AC expected"
            try:
                s.sendall(after_association)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert ends_with_abort(s)
        # the bystander's association still works: release it properly
        bystander_sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + b"\0" * 4)
        assert read_pdu(bystander_sock)[0] == 0x06, "A-RELEASE-RP expected"
    assert echo_ok(listener.port)
