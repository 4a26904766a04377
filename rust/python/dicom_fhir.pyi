"""dicom-fhir for Python: read DICOM the way the dicom-fhir FHIR plugin does, upload folders of
DICOM to a FHIR server with the plugin, and audit what is stored.

Everything runs in the project's Rust core and upload client (the same code as the
``dicom-fhir`` command line tool).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Literal, Optional, TypedDict, Union

from typing_extensions import Unpack

__version__: str

StrPath = Union[str, "os.PathLike[str]"]

class DicomFhirError(Exception):
    """Base class of the errors of dicom_fhir."""

class ServerError(DicomFhirError):
    """The server cannot be used. ``kind`` is one of ``"config"``, ``"unreachable"``,
    ``"tls"`` (certificate not trusted, or not TLS: pass ``ca_file``), ``"unauthorized"`` (401/403), ``"not-fhir"`` (no CapabilityStatement at /metadata),
    ``"plugin-missing"`` (the dicom-fhir plugin is not installed), ``"http"``, ``"cancelled"``."""

    kind: str

class UploadError(DicomFhirError):
    """Some files failed to upload; ``report`` is the whole upload report."""

    report: UploadReport

# One class per kind of error of the Rust core (ErrorKind), one to one.
class InvalidDicomError(ValueError):
    """The input is not a valid DICOM instance (the message says why)."""

class DicomLimitError(ValueError):
    """A limit was reached, e.g. a deflated data set inflating beyond the cap."""

class UnsupportedDicomError(ValueError):
    """Valid DICOM that dicom_fhir does not handle, e.g. an unknown transfer syntax."""

class CorruptStoredError(DicomFhirError):
    """Data stored earlier cannot be read."""

class DicomInternalError(DicomFhirError):
    """A bug in the dicom-fhir core."""

class FileProblem(TypedDict):
    path: str
    reason: str

class UploadReport(TypedDict):
    server: str
    mode: Literal["binary", "stow-rs"]
    files: int
    """Files found under the paths."""
    instances: int
    """DICOM instances among them (distinct SHA-256)."""
    stored: int
    """Newly stored (STOW-RS: acknowledged as stored; the same bytes sent again count here too,
    since a STOW-RS answer does not tell them apart)."""
    unchanged: int
    """Sent, and the server already had the same bytes."""
    skipped_existing: int
    """Already on the server before the upload: not sent."""
    duplicates: int
    """Files with the same bytes as another file of this upload (sent once)."""
    bytes_sent: int
    seconds: float
    instances_per_second: float
    not_dicom: list[FileProblem]
    """Skipped: files without the Part-10 "DICM" prefix, and DICOMDIRs."""
    failed: list[FileProblem]
    """Invalid (e.g. truncated) DICOM files (reason "invalid DICOM: ..."), unreadable files, and
    files the server refused."""

class ProgressEvent(TypedDict):
    phase: Literal["scanning", "checking", "uploading", "done"]
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    skipped_existing: int
    not_dicom: int
    failed: int

class VerifyProblem(TypedDict, total=False):
    kind: Literal["hash-mismatch", "not-dicom", "missing-binary", "wrong-binary", "unlisted", "unreadable"]
    binary: str
    study: str
    sop_instance_uid: str
    detail: str
    repair: str

class VerifyReport(TypedDict, total=False):
    server: str
    study: str
    studies_checked: int
    instances_checked: int
    binaries_checked: int
    problems: list[VerifyProblem]

class Instance:
    """One parsed DICOM instance: what the dicom-fhir plugin derives from it."""

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of the bytes: the id of the Binary the plugin stores them as."""
    @property
    def size(self) -> int:
        """Size in bytes."""
    @property
    def study_instance_uid(self) -> str: ...
    @property
    def series_instance_uid(self) -> str: ...
    @property
    def sop_instance_uid(self) -> str: ...
    @property
    def sop_class_uid(self) -> str: ...
    @property
    def transfer_syntax_uid(self) -> str: ...
    @property
    def patient_identifier(self) -> dict[str, str]:
        """``{"system": ..., "value": ...}``: the Patient identifier the plugin uses."""
    @property
    def problems(self) -> list[str]:
        """Validation problems: attributes that are wrong but do not stop the instance being stored."""
    def dicom_json(self, bulk_data_uri_base: str = "") -> dict[str, Any]:
        """DICOM JSON (PS3.18 F.2) of the data set; binary values over 1 KiB and Pixel Data
        become ``BulkDataURI`` under ``bulk_data_uri_base``."""
    def imaging_study(self) -> dict[str, Any]:
        """The FHIR R4 ImagingStudy holding only this instance (no id, subject or endpoint)."""
    def patient(self) -> dict[str, Any]:
        """The FHIR R4 Patient (identifier, name, gender, birthDate; no id)."""
    def to_dict(self) -> dict[str, Any]:
        """The whole parse result of the native contract (docs/architecture.md)."""

def read(
    source: Union[StrPath, bytes, bytearray, memoryview],
    *,
    patient_identifier_system: Optional[str] = None,
    default_timezone: Optional[str] = None,
) -> Instance:
    """Parses a DICOM Part-10 instance from a path or from bytes.

    Raises ValueError when the input is not valid DICOM (the message says why):
    InvalidDicomError, or UnsupportedDicomError / DicomLimitError for an unknown transfer syntax
    or a data set inflating too far; OSError when the file cannot be read, TypeError for other
    argument types.
    """

class Connection(TypedDict, total=False):
    """The keyword arguments ``upload`` and ``verify`` share: how to reach and authenticate to
    the server, and how many requests run at a time. Defaults: ``jobs=4``, ``timeout=300.0``
    (seconds), the others None (see ``upload`` for ``token`` and ``smart_*``)."""

    jobs: int
    token: Optional[str]
    ca_file: Optional[StrPath]
    timeout: float
    smart_client_id: Optional[str]
    smart_key: Optional[StrPath]
    smart_token_url: Optional[str]
    smart_scope: Optional[str]
    smart_alg: Optional[str]
    smart_kid: Optional[str]

def upload(
    paths: Union[StrPath, Iterable[StrPath]],
    server: str,
    *,
    progress: Optional[Callable[[ProgressEvent], object]] = None,
    retries: int = 4,
    resume: bool = True,
    stow: bool = False,
    stow_url: Optional[str] = None,
    stow_batch: int = 20,
    **connection: Unpack[Connection],
) -> UploadReport:
    """Uploads every DICOM file under ``paths`` (files or folders, walked recursively).

    Files that are not DICOM (no "DICM" prefix) and DICOMDIRs are skipped; invalid (damaged)
    DICOM files fail without being sent. Instances whose Binary (same SHA-256) is already stored
    are skipped without sending them. ``token`` defaults to the environment variable ``DICOMFHIR_TOKEN``. ``progress`` is called
    after every file; if it raises, the upload stops and the exception propagates.

    SMART Backend Services instead of ``token``: ``smart_client_id`` and ``smart_key`` (PEM
    private key, RSA → RS384 or EC P-384 → ES384); the module fetches the access token from
    ``smart_token_url`` (default: ``token_endpoint`` of
    ``<server>/.well-known/smart-configuration``) with ``smart_scope`` (default
    ``"system/*.cruds"``), renews it before it expires and once after a 401. Each ``smart_*``
    not given comes from ``DICOMFHIR_SMART_CLIENT_ID``, ``DICOMFHIR_SMART_KEY``,
    ``DICOMFHIR_SMART_TOKEN_URL``, ``DICOMFHIR_SMART_SCOPE``, ``DICOMFHIR_SMART_ALG``,
    ``DICOMFHIR_SMART_KID``. ``token`` together with ``smart_*`` is a ServerError of kind
    ``"config"``; a refusing token endpoint one of kind ``"unauthorized"`` showing its OAuth
    ``error``/``error_description``.

    Raises UploadError (with ``.report``) when some files failed, ServerError (with ``.kind``)
    when the server cannot be used.
    """

def verify(
    server: str,
    *,
    study: Optional[str] = None,
    repair: bool = False,
    **connection: Unpack[Connection],
) -> VerifyReport:
    """Audits the store like ``dicom-fhir verify``; ``problems`` is empty when it is clean.
    Authentication as in ``upload`` (``token`` or ``smart_*``)."""
