"""What the dicom-fhir plugin is expected to do with each file of the test corpus.

Every file is judged on its own with pydicom (the plugin itself parses with dicom-rs), and then the
upload of the whole corpus, in a fixed order, is simulated: which upload creates a Binary (201),
which one repeats bytes already stored (200), which one is a second version of a SOP Instance
already stored (409), which one is rejected as invalid DICOM (4xx), and which instances every
ImagingStudy must end up listing.

No server is needed here; test_ingest.py compares this model with what the server does.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

ACCEPT = "accept"  # valid Part-10 instance: must be stored
REJECT = "reject"  # not a valid instance: 4xx + OperationOutcome
UNDECIDED = "undecided"  # pydicom cannot tell: only "never a 5xx" is asserted

# Outcome of one upload in the simulated corpus upload.
CREATED = "created"  # 201, new Binary
UNCHANGED = "unchanged"  # 200, these bytes are already stored
CONFLICT = "conflict"  # 409, the SOP Instance UID is already stored with other bytes
REJECTED = "rejected"  # 4xx, invalid
UNKNOWN = "unknown"  # undecided file: anything but a 5xx

# The corpus directories below DICOMFHIR_DATA, in upload order. The charset files are in the
# pydicom wheel under pydicom/data/charset_files; depending on how the corpus was unpacked they
# sit in pydicom-charset/ or pydicom/charset_files/ (then they are part of "pydicom").
CORPUS_DIRS = ("pydicom", "pydicom-charset", "pydicom-data")

# Files where dicom-rs (the plugin's parser) and pydicom legitimately disagree. Keep this list
# short, and say why for every entry: relative path -> (verdict, reason).
EXPECTATION_OVERRIDES: dict[str, tuple[str, str]] = {
    # None today. Files that encode StudyInstanceUID (0020,000D) with explicit VR "UN"
    # (pydicom-data/explicit_VR-UN.dcm, pydicom/rtdose_rle*.dcm) are read with the dictionary VR by
    # both (PS3.5 6.2.2 allows UN for any attribute) and stored, as pydicom expects.
}

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

DICOM_UID_SYSTEM = "urn:dicom:uid"
INSTANCE_BINARY_URL = "http://dicomfhir.org/fhir/StructureDefinition/instance-binary"
INSTANCE_ATTRIBUTES_URL = "http://dicomfhir.org/fhir/StructureDefinition/instance-attributes"

SEX_TO_GENDER = {"M": "male", "F": "female", "O": "other"}


def is_valid_uid(value) -> bool:
    """PS3.5 9.1: at most 64 characters, digits and dots, no empty component, no leading zero."""
    return isinstance(value, str) and 0 < len(value) <= 64 and UID_RE.match(value) is not None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fhir_date(da) -> str | None:
    """DICOM DA 'YYYYMMDD' -> FHIR 'YYYY-MM-DD', None unless a valid calendar date."""
    text = str(da or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None


def _text(value) -> str | None:
    """A single-valued string attribute, stripped; None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, (list, MultiValue)):
        value = value[0] if len(value) else None
        if value is None:
            return None
    text = str(value).strip()
    return text or None


def _int(value) -> int | None:
    """A single-valued IS/US attribute as int; None when absent, empty, multi-valued or not an integer."""
    if value is None or isinstance(value, (list, MultiValue)):
        return None
    try:
        text = str(value).strip()
        if not text:
            return None
        number = float(text)
    except (TypeError, ValueError):
        return None
    if number != int(number):
        return None
    return int(number)


def name_groups(pn) -> list[list[str]]:
    """PersonName -> its component groups (alphabetic, ideographic, phonetic), each split on '^'.

    Empty groups are returned as []; trailing empty components are dropped."""
    if pn is None:
        return []
    if isinstance(pn, (list, MultiValue)):
        if not len(pn):
            return []
        pn = pn[0]
    if not isinstance(pn, PersonName):
        pn = PersonName(str(pn))
    groups = []
    for group in pn.components:
        parts = [part.strip() for part in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        groups.append(parts)
    return groups


def _raw_length_problems(ds: Dataset, where: str) -> list[str]:
    """Elements whose value is shorter than the length their header declares (a cut file)."""
    problems = []
    for tag, elem in ds._dict.items():
        if isinstance(elem, RawDataElement) and elem.length != 0xFFFFFFFF and elem.value is not None:
            if len(elem.value) < elem.length:
                problems.append(f"{where}{tag}: declares {elem.length} bytes, file has {len(elem.value)}")
    return problems


def _walk(ds: Dataset, where: str, problems: list[str]) -> None:
    problems.extend(_raw_length_problems(ds, where))
    for elem in ds:  # converts every raw element, parses every sequence
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or []):
                _walk(item, f"{where}{elem.tag}[{index}].", problems)


def completeness_problems(data: bytes) -> tuple[Dataset | None, list[str], str | None]:
    """Reads the whole file with pydicom (no defer, every sequence parsed).

    Returns (dataset, truncation problems, error): error is set when pydicom refuses the file."""
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(io.BytesIO(data), force=False, defer_size=None)
            _walk(ds, "", problems)
            if getattr(ds, "file_meta", None) is not None:
                problems.extend(_raw_length_problems(ds.file_meta, "meta "))
        except InvalidDicomError as e:
            return None, problems, f"not DICOM Part 10: {e}"
        except Exception as e:  # anything else pydicom cannot read is an unreadable data set
            return None, problems, f"pydicom cannot read it: {type(e).__name__}: {e}"
    for w in caught:
        message = str(w.message)
        if "End of file" in message or "EOF" in message or "delimiter" in message.lower():
            problems.append(message)
    return ds, problems, None


@dataclass
class Instance:
    relpath: str
    data: bytes = field(repr=False)
    sha256: str
    verdict: str
    reason: str
    transfer_syntax: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_uid: str | None = None
    sop_class_uid: str | None = None
    modality: str | None = None
    series_number: int | None = None
    instance_number: int | None = None
    study_description: str | None = None
    study_date: str | None = None  # FHIR date
    accession: str | None = None
    patient_id: str | None = None
    patient_name: list[list[str]] = field(default_factory=list)
    patient_sex: str | None = None
    birth_date: str | None = None  # FHIR date
    rows: int | None = None
    columns: int | None = None
    charset: object = None

    @property
    def name(self) -> str:
        return os.path.basename(self.relpath)

    @property
    def family(self) -> str | None:
        return self.patient_name[0][0] if self.patient_name and self.patient_name[0] and self.patient_name[0][0] else None


def classify(relpath: str, data: bytes) -> Instance:
    """Judges one file on its own."""
    sha = sha256_hex(data)
    ds, problems, error = completeness_problems(data)
    if ds is None:
        return Instance(relpath, data, sha, REJECT, error or "unreadable")
    meta = getattr(ds, "file_meta", None)
    ts = _text(meta.get("TransferSyntaxUID")) if meta is not None else None
    inst = Instance(relpath, data, sha, ACCEPT, "valid Part-10 instance", transfer_syntax=ts)
    try:
        inst.study_uid = _text(ds.get("StudyInstanceUID"))
        inst.series_uid = _text(ds.get("SeriesInstanceUID"))
        inst.sop_uid = _text(ds.get("SOPInstanceUID"))
        inst.sop_class_uid = _text(ds.get("SOPClassUID"))
        inst.modality = _text(ds.get("Modality"))
        inst.series_number = _int(ds.get("SeriesNumber"))
        inst.instance_number = _int(ds.get("InstanceNumber"))
        inst.study_description = _text(ds.get("StudyDescription"))
        inst.study_date = fhir_date(ds.get("StudyDate"))
        inst.accession = _text(ds.get("AccessionNumber"))
        inst.patient_id = _text(ds.get("PatientID"))
        inst.patient_name = name_groups(ds.get("PatientName"))
        inst.patient_sex = _text(ds.get("PatientSex"))
        inst.birth_date = fhir_date(ds.get("PatientBirthDate"))
        inst.rows = _int(ds.get("Rows"))
        inst.columns = _int(ds.get("Columns"))
        inst.charset = ds.get("SpecificCharacterSet")
    except Exception as e:  # an attribute pydicom cannot decode: do not guess
        inst.verdict, inst.reason = UNDECIDED, f"pydicom cannot decode an attribute: {type(e).__name__}: {e}"
        return inst

    if meta is None or not meta or ts is None:
        inst.verdict, inst.reason = REJECT, "no File Meta Information / no TransferSyntaxUID"
    elif problems:
        inst.verdict, inst.reason = REJECT, "truncated: " + "; ".join(problems[:3])
    else:
        for label, value in (("StudyInstanceUID", inst.study_uid), ("SeriesInstanceUID", inst.series_uid),
                             ("SOPInstanceUID", inst.sop_uid), ("SOPClassUID", inst.sop_class_uid)):
            if value is None:
                inst.verdict, inst.reason = REJECT, f"{label} missing"
                break
            if not is_valid_uid(value):
                inst.verdict, inst.reason = REJECT, f"{label} malformed: {value!r}"
                break
    override = EXPECTATION_OVERRIDES.get(relpath)
    if override is not None:
        inst.verdict, inst.reason = override[0], f"override: {override[1]} (pydicom: {inst.reason})"
    return inst


def corpus_files(data_dir: Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every file of the corpus, in upload order: corpus by corpus, then
    sorted by relative path."""
    files = []
    for corpus in CORPUS_DIRS:
        root = data_dir / corpus
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files.append((path.relative_to(data_dir).as_posix(), path))
    return files


@dataclass
class Upload:
    instance: Instance
    expected: str  # CREATED / UNCHANGED / CONFLICT / REJECTED / UNKNOWN
    note: str = ""


@dataclass
class ExpectedStudy:
    uid: str
    instances: dict[str, Instance] = field(default_factory=dict)  # SOP Instance UID -> owner

    def series(self) -> dict[str, list[Instance]]:
        result: dict[str, list[Instance]] = {}
        for inst in self.instances.values():
            result.setdefault(inst.series_uid, []).append(inst)
        return result


@dataclass
class Corpus:
    uploads: list[Upload]
    studies: dict[str, ExpectedStudy]

    def by_name(self, relpath_suffix: str) -> Upload:
        found = [u for u in self.uploads if u.instance.relpath.endswith(relpath_suffix)]
        assert len(found) == 1, f"{relpath_suffix}: {len(found)} files match"
        return found[0]

    def stored(self) -> list[Instance]:
        """The instance that owns each stored SOP Instance UID."""
        return [inst for study in self.studies.values() for inst in study.instances.values()]


def plan(instances: list[Instance]) -> Corpus:
    """Simulates uploading the files in the given order (the default policy: DICOM instances are
    immutable, other bytes under a stored SOP Instance UID are a 409)."""
    stored_sha: set[str] = set()
    owner_of_sop: dict[str, Instance] = {}
    studies: dict[str, ExpectedStudy] = {}
    uploads = []
    for inst in instances:
        if inst.verdict == REJECT:
            uploads.append(Upload(inst, REJECTED, inst.reason))
        elif inst.verdict == UNDECIDED:
            uploads.append(Upload(inst, UNKNOWN, inst.reason))
        elif inst.sha256 in stored_sha:
            uploads.append(Upload(inst, UNCHANGED, "same bytes as an earlier file"))
        elif inst.sop_uid in owner_of_sop:
            uploads.append(Upload(inst, CONFLICT, f"SOP Instance stored from {owner_of_sop[inst.sop_uid].relpath}"))
        else:
            stored_sha.add(inst.sha256)
            owner_of_sop[inst.sop_uid] = inst
            studies.setdefault(inst.study_uid, ExpectedStudy(inst.study_uid)).instances[inst.sop_uid] = inst
            uploads.append(Upload(inst, CREATED))
    return Corpus(uploads, studies)


def load_corpus(data_dir: Path) -> Corpus:
    return plan([classify(rel, path.read_bytes()) for rel, path in corpus_files(data_dir)])


def upload_groups(corpus: Corpus) -> list[list[Upload]]:
    """Uploads that must run one after the other, in corpus order, because they share bytes or a
    SOP Instance UID; different groups are independent and may run in parallel."""
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by_key: dict[str, int] = {}
    for index, upload in enumerate(corpus.uploads):
        find(index)
        for key in ("sha:" + upload.instance.sha256,
                    "sop:" + (upload.instance.sop_uid or "") if upload.instance.sop_uid else None):
            if key is None:
                continue
            if key in first_by_key:
                parent[find(index)] = find(first_by_key[key])
            else:
                first_by_key[key] = index
    groups: dict[int, list[Upload]] = {}
    for index, upload in enumerate(corpus.uploads):
        groups.setdefault(find(index), []).append(upload)
    # biggest first, so the pool is not left waiting for one long chain at the end
    return sorted(groups.values(), key=lambda g: -sum(len(u.instance.data) for u in g))


def summary(corpus: Corpus) -> str:
    counts: dict[str, int] = {}
    for upload in corpus.uploads:
        counts[upload.expected] = counts.get(upload.expected, 0) + 1
    return (", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            + f"; {len(corpus.studies)} studies, {len(corpus.stored())} stored instances")


# Studies other test modules create (e.g. test_dicomweb) use this UID prefix, so the corpus checks
# can tell them from the corpus' own studies.
TEST_STUDY_UID_PREFIX = "1.2.826.0.1.3680043.8.498.999."


if __name__ == "__main__":  # python tests/e2e/dicom_expect.py [DATA_DIR]: print the model
    import sys

    corpus = load_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DICOMFHIR_DATA", "/work/main/.data")))
    for u in corpus.uploads:
        print(f"{u.expected:9} {u.instance.relpath}  {u.note}")
    print(summary(corpus))

