"""The systemd unit of docs/cli.md ("Running it as a systemd service") passes
`systemd-analyze verify` (with ExecStart pointing at the CLI under test, which must exist and be
executable): no unknown keys, no bad values."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from dimse_util import ROOT, cli


def test_documented_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.fail("systemd-analyze missing (Debian package systemd)")
    doc = (ROOT / "docs" / "cli.md").read_text()
    section = doc.split("### Running it as a systemd service", 1)[1]
    unit = re.search(r"```ini\n(.*?)```", section, re.S).group(1)
    assert "ExecStart=/usr/local/bin/dicom-fhir listen" in unit
    unit = unit.replace("/usr/local/bin/dicom-fhir", cli())
    path = tmp_path / "dicom-fhir-listen.service"
    path.write_text(unit)
    r = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
