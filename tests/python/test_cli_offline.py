"""The `dicom-fhir` CLI without a real server: inspect, which files an upload sends, skips or
fails, and the clear errors for an unreachable URL, a URL that is not FHIR, a FHIR server without
the plugin, and 401."""

from __future__ import annotations

import json

import pytest

from fake_http import CAPABILITY, AnsweringHandler, loopback, outcome


def fake_server(handler_body):
    """A loopback HTTP server answering every GET with handler_body(path) -> (status, dict|str)."""

    class Handler(AnsweringHandler):
        def do_GET(self):
            self.answer(*handler_body(self.path, self.headers))

        do_POST = do_GET

    return loopback(Handler)


def test_inspect_human_and_json(run_cli, ct_small):
    import hashlib

    r = run_cli("inspect", ct_small)
    assert r.returncode == 0, r.stderr
    sha = hashlib.sha256(ct_small.read_bytes()).hexdigest()
    assert sha in r.stdout and "ImagingStudy" in r.stdout and "Patient" in r.stdout
    r = run_cli("inspect", ct_small, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] and out["sha256"] == sha
    assert out["imagingStudy"]["resourceType"] == "ImagingStudy"
    assert out["dicomJson"]["0020000D"]["Value"] == [out["studyInstanceUid"]]


def test_inspect_not_dicom(run_cli, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("not an image")
    r = run_cli("inspect", p)
    assert r.returncode == 1 and "not valid DICOM" in r.stdout
    r = run_cli("inspect", p, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["valid"] is False


def test_unreachable(run_cli, ct_small):
    r = run_cli("upload", ct_small, "--server", "http://127.0.0.1:9/fhir", "--timeout", "5")
    assert r.returncode == 2
    assert "server unreachable" in r.stderr


def test_not_fhir(run_cli, ct_small):
    server, url = fake_server(lambda path, h: (200, "<html>hello</html>"))
    try:
        r = run_cli("upload", ct_small, "--server", url)
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "not a FHIR server" in r.stderr


def test_plugin_missing(run_cli, ct_small):
    def answer(path, headers):
        if path.startswith("/fhir/metadata"):
            return 200, CAPABILITY
        return 200, {"resourceType": "Bundle", "type": "searchset", "total": 0}

    server, url = fake_server(answer)
    try:
        r = run_cli("verify", "--server", url)
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "plugin not installed" in r.stderr


def test_unauthorized_and_token(run_cli, ct_small):
    seen = []

    def answer(path, headers):
        seen.append(headers.get("Authorization"))
        return 401, outcome("login", "token expired")

    server, url = fake_server(answer)
    try:
        r = run_cli("upload", ct_small, "--server", url, env={"DICOMFHIR_TOKEN": "s3cret"})
    finally:
        server.shutdown()
    assert r.returncode == 2
    assert "401" in r.stderr and "--token" in r.stderr and "token expired" in r.stderr
    assert seen and seen[0] == "Bearer s3cret"


class StoringServer:
    """A loopback stand-in for a FHIR server with the plugin, enough for an upload to run:
    /metadata, the plugin's StructureDefinition, an empty Binary search, and POST Binary /
    STOW-RS answered as stored (the Binary id is the SHA-256 of the bytes, as the plugin does).
    Records the bytes it was sent."""

    def __init__(self):
        received = self.received = []

        class Handler(AnsweringHandler):
            def do_GET(self):
                self.answer_plugin_get()

            def do_POST(self):
                body = self.body()
                received.append((self.path, body))
                if self.path == "/fhir/Binary":
                    return self.answer_stored(body)
                return self.answer(200, {})

        self.server, self.url = loopback(Handler)

    def close(self):
        self.server.shutdown()


@pytest.mark.parametrize("mode", [[], ["--stow"]], ids=["binary", "stow"])
def test_upload_damaged_dicom_fails_non_dicom_is_skipped(run_cli, ct_small, tmp_path, mode):
    """A file with the Part-10 'DICM' prefix that does not parse is a failure (exit 1, listed in
    `failed` with the parser's reason), not a skip; files without the prefix are still skipped."""
    folder = tmp_path / "upload"
    folder.mkdir()
    ct = ct_small.read_bytes()
    (folder / "a_good.dcm").write_bytes(ct)
    (folder / "b_truncated.dcm").write_bytes(ct[: len(ct) // 2])
    (folder / "c_garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)
    (folder / "d_README.txt").write_text("not DICOM")
    (folder / "e_photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 300)
    report_file = tmp_path / "report.json"
    server = StoringServer()
    try:
        r = run_cli("upload", folder, "--server", server.url, "--report", report_file, "--quiet", *mode)
    finally:
        server.close()
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(report_file.read_text())
    failed = {p["path"]: p["reason"] for p in report["failed"]}
    assert sorted(failed) == [str(folder / "b_truncated.dcm"), str(folder / "c_garbage.dcm")], report
    assert "truncated" in failed[str(folder / "b_truncated.dcm")]
    assert all(reason.startswith("invalid DICOM: ") for reason in failed.values()), failed
    assert sorted(p["path"] for p in report["not_dicom"]) == [str(folder / "d_README.txt"), str(folder / "e_photo.jpg")]
    assert report["files"] == 5 and report["instances"] == 1 and report["stored"] == 1
    assert "FAILED: 2 files" in r.stdout and str(folder / "c_garbage.dcm") in r.stdout
    # the good file was sent once; the damaged ones (which also hold "DICM") never
    sent = b"".join(body for _, body in server.received)
    assert ct in sent and sent.count(b"DICM") == 1


def test_upload_only_non_dicom_exits_0(run_cli, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.txt").write_text("not DICOM")
    server = StoringServer()
    try:
        r = run_cli("upload", folder, "--server", server.url, "--quiet")
    finally:
        server.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 not DICOM" in r.stdout and "no failures" in r.stdout
    assert "skipped" in r.stderr and "README.txt" in r.stderr
