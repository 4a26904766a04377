#!/usr/bin/env python3
"""pydicom doing per instance what the Rust core does (the reference next to bench/core-bench).

    python3 bench/pydicom_bench.py DIR [--rounds 5] [--limit N]

Steps, each a separate pass over all instances held in memory (per-instance µs, median round):
  sha256   hashlib.sha256 of the bytes alone (OpenSSL)
  parse    dcmread (whole data set, pixel data read as bytes) + sha256
  full     dcmread + sha256 + to_json_dict (DICOM JSON; bulk data >1 KiB as BulkDataURI, like the
           core) + an ImagingStudy series/instance entry built from the data set, serialized
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

import pydicom


def entry(ds, sha: str) -> dict:
    """The ImagingStudy fragment the plugin derives, reduced to its usual fields."""
    return {
        "resourceType": "ImagingStudy", "id": str(ds.StudyInstanceUID), "status": "available",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{ds.StudyInstanceUID}"}],
        "started": str(ds.get("StudyDate", "")), "description": str(ds.get("StudyDescription", "")),
        "series": [{
            "uid": str(ds.SeriesInstanceUID), "number": int(ds.get("SeriesNumber", 0) or 0),
            "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": str(ds.get("Modality", ""))},
            "description": str(ds.get("SeriesDescription", "")),
            "instance": [{"uid": str(ds.SOPInstanceUID),
                          "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{ds.SOPClassUID}"},
                          "number": int(ds.get("InstanceNumber", 0) or 0),
                          "extension": [{"url": "binary", "valueReference": {"reference": f"Binary/{sha}"}}]}],
        }],
    }


def bulk(elem) -> str:
    return f"http://localhost/dicomweb/bulk/{elem.tag:08X}"


def step_sha(b: bytes) -> int:
    return len(hashlib.sha256(b).hexdigest())


def step_parse(b: bytes) -> int:
    ds = pydicom.dcmread(io.BytesIO(b))
    return len(ds) + len(hashlib.sha256(b).hexdigest())


def step_full(b: bytes) -> int:
    sha = hashlib.sha256(b).hexdigest()
    ds = pydicom.dcmread(io.BytesIO(b))
    js = json.dumps(ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=bulk))
    return len(js) + len(json.dumps(entry(ds, sha)))


def run(files: list[Path], rounds: int) -> dict:
    data = [p.read_bytes() for p in files]
    steps = {"sha256": step_sha, "parse": step_parse, "full": step_full}
    for f in steps.values():  # warm-up
        for b in data[:50]:
            f(b)
    out = {}
    for name, f in steps.items():
        per = []
        for _ in range(rounds):
            t = time.perf_counter()
            for b in data:
                f(b)
            per.append((time.perf_counter() - t) * 1e6 / len(data))
        out[name] = {"per_instance_us": statistics.median(per), "rounds_us": per}
    return {"tool": f"pydicom {pydicom.__version__} on Python {sys.version.split()[0]}",
            "instances": len(data), "bytes_per_instance": sum(map(len, data)) // len(data),
            "rounds": rounds, "steps": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    files = sorted(Path(a.dir).rglob("*.dcm"))
    if a.limit:
        files = files[: a.limit]
    print(json.dumps(run(files, a.rounds), indent=2))


if __name__ == "__main__":
    main()
