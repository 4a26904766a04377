"""The DICOMweb address the plugin writes into Endpoint.address comes from configuration, never
from request headers: a STOW-RS with `Host: evil.example` and a POST /Binary with
`X-Forwarded-Host: evil.example` + `X-Forwarded-Proto: https` create studies whose Endpoint does
not point at evil.example."""

from __future__ import annotations

import pytest

from adv_util import make_instance, post_dicom, short, stow

EVIL = "evil.example"


def endpoint_addresses(server, study_uid: str) -> list[str]:
    study = server.read_study(study_uid)
    refs = [e.get("reference") for e in study.get("endpoint", []) or []]
    assert refs, f"ImagingStudy/{study_uid} has no endpoint"
    out = []
    for ref in refs:
        ref = "/".join(ref.split("/")[-2:]) if "_history" not in ref else ref.split("/_history")[0]
        out.append(server.fhir.read(ref).get("address", ""))
    return out


@pytest.mark.parametrize("how", ["stow-host", "binary-forwarded", "binary-host", "stow-forwarded"])
def test_endpoint_address_ignores_request_headers(server, how):
    inst = make_instance(PatientID="ENDPOINT1")
    if how == "stow-host":
        r = stow(server.http, server.base, [inst.data], headers={"Host": EVIL})
    elif how == "stow-forwarded":
        r = stow(server.http, server.base, [inst.data],
                 headers={"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https", "Forwarded": f"host={EVIL};proto=https"})
    elif how == "binary-host":
        r = post_dicom(server.http, server.base, inst.data, {"Host": EVIL})
    else:
        r = post_dicom(server.http, server.base, inst.data, {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"})
    assert r.status_code in (200, 201), f"{how}: {short(r)}"
    addresses = endpoint_addresses(server, inst.study)
    assert not any(EVIL in a for a in addresses), f"{how}: ImagingStudy/{inst.study} endpoint address {addresses}"
