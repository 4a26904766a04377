#!/usr/bin/env python3
"""Deterministic benchmark dataset: studies x series x instances of real images from the test corpus.

Each instance is a copy of a corpus image (pydicom's CT_small.dcm for CT-like series,
MR_small.dcm for MR series; both real 16-bit images with their own pixel data) with new
Study/Series/SOP Instance UIDs and varied patients, dates, modalities and descriptions.

    python3 bench/gen_dataset.py --instances 10000 --out DIR [--seed 7]
    python3 bench/gen_dataset.py --studies 20 --series 5 --per-series 100 --out DIR

Writes DIR/<study>/<series>/<n>.dcm and DIR/manifest.json. The same arguments give byte-identical
files: UIDs are 2.25.<UUIDv5(seed, path)>, every other value comes from random.Random(seed).
As a library: `plan(...)` lays out the dataset, `render(plan, corpus)` yields (meta, bytes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = uuid.UUID("0b6f3c52-5d0e-4c1e-8f8e-3b1f5a7d2c90")

SURNAMES = ["DOE", "DOEBLER", "SMITH", "NAKAMURA", "OKAFOR", "FISCHER", "MORENO", "LINDQVIST",
            "DUBOIS", "ROSSI", "KOWALCZYK", "OLSEN", "PATEL", "CHEN", "MURPHY", "SANTOS"]
GIVEN = ["ADA", "BEN", "CARLA", "DMITRI", "EVA", "FATIMA", "GUS", "HANA", "IGOR", "JUNE"]
# (modality, weight, corpus template, study descriptions, series descriptions)
MODALITIES = [
    ("CT", 45, "CT_small.dcm", ["CT CHEST W CONTRAST", "CT ABDOMEN", "CT HEAD"], ["AXIAL 3MM", "CORONAL", "BONE"]),
    ("MR", 30, "MR_small.dcm", ["MR BRAIN", "MR LUMBAR SPINE", "MR KNEE LEFT"], ["T1 SAG", "T2 AX", "FLAIR", "DWI"]),
    ("PT", 10, "CT_small.dcm", ["PET CT WHOLE BODY"], ["PET AC", "PET NAC"]),
    ("CR", 8, "CT_small.dcm", ["CHEST 2 VIEWS"], ["PA", "LATERAL"]),
    ("US", 7, "CT_small.dcm", ["US ABDOMEN"], ["LIVER", "KIDNEYS"]),
]
FIRST_DAY = dt.date(2012, 1, 1)
DAYS = 365 * 13


def make_uid(seed: int, *parts) -> str:
    return "2.25.%d" % uuid.uuid5(NAMESPACE, "/".join(map(str, (seed, *parts)))).int


@dataclass
class Series:
    uid: str
    number: int
    modality: str
    template: str
    description: str
    station: str = ""  # StationName: a series attribute outside the plugin's QIDO table (issue 17's figure)
    instances: list[str] = field(default_factory=list)  # SOP Instance UIDs


@dataclass
class Study:
    uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    date: str
    time: str
    accession: str
    description: str
    series: list[Series] = field(default_factory=list)

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


STATIONS = 40


def plan(studies: int, series: int, per_series: int, seed: int = 7, tag: str = "main") -> list[Study]:
    """Lays out `studies` x `series` x `per_series` instances. `tag` separates datasets made with the
    same seed (warm-up, linearity) so that their UIDs never collide."""
    rng = random.Random(f"{seed}/{tag}")
    patients = []
    for p in range(max(1, (studies * 2 + 2) // 3)):  # about one patient in three has two studies
        birth = FIRST_DAY - dt.timedelta(days=rng.randrange(20 * 365, 90 * 365))
        patients.append((f"BP{seed}{tag[:2].upper()}{p:06d}",
                         f"{rng.choice(SURNAMES)}^{rng.choice(GIVEN)}",
                         birth.strftime("%Y%m%d"), rng.choice("MFO")))
    weights = [m[1] for m in MODALITIES]
    out = []
    for s in range(studies):
        pid, name, birth, sex = patients[s % len(patients)] if s < len(patients) else rng.choice(patients)
        main = rng.choices(MODALITIES, weights)[0]
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        st = Study(uid=make_uid(seed, tag, s), patient_id=pid, patient_name=name, birth_date=birth, sex=sex,
                   date=day.strftime("%Y%m%d"),
                   time=f"{rng.randrange(6, 22):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}",
                   accession=f"A{seed}{tag[:2].upper()}{s:07d}", description=rng.choice(main[3]))
        for se in range(series):
            # Mostly the study's modality; now and then another one (PET-CT, a localizer...).
            mod = main if rng.random() < 0.8 else rng.choices(MODALITIES, weights)[0]
            ser = Series(uid=make_uid(seed, tag, s, se), number=se + 1, modality=mod[0], template=mod[2],
                         description=rng.choice(mod[4]),
                         # 40 scanners, spread without drawing from rng (every other value stays as it was)
                         station=f"STATION{(s * 7 + se * 3) % STATIONS:02d}")
            ser.instances = [make_uid(seed, tag, s, se, i) for i in range(per_series)]
            st.series.append(ser)
        out.append(st)
    return out


def study_at(index: int, series: int, per_series: int, seed: int = 7, tag: str = "stream") -> Study:
    """Study number `index` of an unbounded dataset, made from its index alone (no list of all
    studies in memory): `bench/huge.py` streams a million instances this way and regenerates any
    study it wants to query. One patient per two studies on average (study s has patient s*2//3),
    accession numbers and UIDs unique per index; other values from random.Random(seed, tag, index).

    An archive filled in time order, so that a query keeps the size of its answer as the store
    grows (issue 18's bar compares a query's p95 at 10,000 and 1,000,000 instances): a surname per
    four patients (four syllables: 160,000 surnames), STUDIES_PER_DAY studies a day from FIRST_DAY,
    and a pair of stations per STUDIES_PER_DAY studies."""
    rng = random.Random(f"{seed}/{tag}/{index}")
    p = index * 2 // 3
    prng = random.Random(f"{seed}/{tag}/patient/{p}")
    birth = FIRST_DAY - dt.timedelta(days=prng.randrange(20 * 365, 90 * 365))
    main = rng.choices(MODALITIES, [m[1] for m in MODALITIES])[0]
    day = FIRST_DAY + dt.timedelta(days=index // STUDIES_PER_DAY)
    st = Study(uid=make_uid(seed, tag, index), patient_id=f"SP{seed}{p:08d}",
               patient_name=f"{surname_at(p // 4)}^{prng.choice(GIVEN)}", birth_date=birth.strftime("%Y%m%d"),
               sex=prng.choice("MFO"), date=day.strftime("%Y%m%d"),
               time=f"{rng.randrange(6, 22):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}",
               accession=f"S{seed}{index:09d}", description=rng.choice(main[3]))
    for se in range(series):
        mod = main if rng.random() < 0.8 else rng.choices(MODALITIES, [m[1] for m in MODALITIES])[0]
        ser = Series(uid=make_uid(seed, tag, index, se), number=se + 1, modality=mod[0], template=mod[2],
                     description=rng.choice(mod[4]),
                     station=f"STATION{index // STUDIES_PER_DAY:05d}{'AB'[se % 2]}")
        ser.instances = [make_uid(seed, tag, index, se, i) for i in range(per_series)]
        st.series.append(ser)
    return st


STUDIES_PER_DAY = 20
SYLLABLES = ["KA", "LO", "MI", "RA", "SU", "TE", "NO", "VI", "DA", "BE",
             "GO", "HU", "JE", "PI", "ZO", "FA", "RU", "SE", "WA", "YO"]


def surname_at(group: int) -> str:
    """Four syllables, all surnames the same length: none is a prefix of another."""
    out = ""
    for _ in range(4):
        group, k = divmod(group, len(SYLLABLES))
        out += SYLLABLES[k]
    return out


def tiny_templates(templates: dict[str, pydicom.Dataset], side: int = 8) -> dict[str, pydicom.Dataset]:
    """Copies of the templates with a side x side image (the first bytes of the real pixel data):
    no private tags: instances of about 1.8 KB instead of 10-40 KB, so that a million fit on a disk."""
    import copy
    out = {}
    for name, ds in templates.items():
        ds = copy.deepcopy(ds)
        frame = side * side * ds.SamplesPerPixel * ds.BitsAllocated // 8
        ds.PixelData = bytes(ds.PixelData[:frame])
        ds.Rows = ds.Columns = side
        ds.remove_private_tags()  # CT_small.dcm: 4 KB of GE private data
        if "DataSetTrailingPadding" in ds:
            del ds.DataSetTrailingPadding
        ds.preamble = b"\0" * 128  # CT_small.dcm's preamble is a TIFF header
        out[name] = ds
    return out


def corpus_dir() -> Path:
    env = os.environ.get("DICOMFHIR_DATA")
    return Path(env) / "pydicom" if env else ROOT / ".data" / "pydicom"


def load_templates(folder: Path | None = None) -> dict[str, pydicom.Dataset]:
    folder = folder or corpus_dir()
    out = {}
    for name in {m[2] for m in MODALITIES}:
        path = folder / name
        if not path.is_file():
            sys.exit(f"{path} not found: run scripts/fetch-test-data.sh (or set DICOMFHIR_DATA)")
        ds = pydicom.dcmread(path)
        for kw in ("OtherPatientIDsSequence", "OtherPatientIDs", "InstanceCreatorUID", "RequestAttributesSequence"):
            if kw in ds:
                delattr(ds, kw)
        out[name] = ds
    return out


def render(studies: list[Study], templates: dict[str, pydicom.Dataset]):
    """Yields (meta, bytes) per instance, study by study, series by series."""
    for st in studies:
        for ser in st.series:
            ds = templates[ser.template]
            ds.PatientID, ds.PatientName = st.patient_id, st.patient_name
            ds.PatientBirthDate, ds.PatientSex = st.birth_date, st.sex
            ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = st.uid, st.date, st.time
            ds.AccessionNumber, ds.StudyDescription, ds.StudyID = st.accession, st.description, st.accession[-6:]
            ds.SeriesInstanceUID, ds.SeriesNumber = ser.uid, ser.number
            ds.SeriesDescription, ds.Modality, ds.SeriesDate = ser.description, ser.modality, st.date
            ds.StationName = ser.station
            for i, sop in enumerate(ser.instances):
                ds.SOPInstanceUID = sop
                ds.file_meta.MediaStorageSOPInstanceUID = sop
                ds.InstanceNumber = i + 1
                ds.SliceLocation = -2.5 * i
                buf = io.BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                yield ({"study": st.uid, "series": ser.uid, "sop": sop, "path": f"{st.uid[-8:]}/{ser.number:03d}/{i:05d}.dcm"},
                       buf.getvalue())


def shape(instances: int) -> tuple[int, int, int]:
    """studies, series, per_series for about `instances` instances: 5 series of 10 per study
    (the mix of the shared generator's default), fewer for tiny sizes."""
    per_study = 50 if instances >= 50 else instances
    return max(1, instances // per_study), min(5, per_study), max(1, per_study // 5) if per_study >= 5 else 1


def manifest(studies: list[Study]) -> dict:
    return {"studies": [{"StudyInstanceUID": s.uid, "PatientID": s.patient_id, "PatientName": s.patient_name,
                         "StudyDate": s.date, "StudyDescription": s.description, "AccessionNumber": s.accession,
                         "series": [{"SeriesInstanceUID": se.uid, "Modality": se.modality,
                                     "SeriesDescription": se.description, "instances": se.instances}
                                    for se in s.series]} for s in studies]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, help="about this many instances (50 per study, 5 series)")
    ap.add_argument("--studies", type=int)
    ap.add_argument("--series", type=int, default=5)
    ap.add_argument("--per-series", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.instances:
        a.studies, a.series, a.per_series = shape(a.instances)
    elif not a.studies:
        ap.error("--instances or --studies")
    studies = plan(a.studies, a.series, a.per_series, a.seed)
    out = Path(a.out)
    n = size = 0
    for meta, data in render(studies, load_templates()):
        p = out / meta["path"]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        n += 1
        size += len(data)
    (out / "manifest.json").write_text(json.dumps(manifest(studies), indent=1))
    print(json.dumps({"out": str(out), "studies": len(studies), "instances": n, "bytes": size}))


if __name__ == "__main__":
    main()
