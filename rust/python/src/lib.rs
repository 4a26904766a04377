//! `dicom_fhir`: the dicom-fhir Rust core and upload client for Python.
//!
//! No logic of its own: parsing and derivation come from `dicom-fhir-core`, upload and verify
//! from `dicom-fhir-client` (the same code as the `dicom-fhir` command).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_fhir_client::upload::{Progress, ProgressEvent};
use dicom_fhir_client::{
    ClientConfig, ClientError, Fhir, SmartConfig, StowOptions, UploadOptions, VerifyOptions,
};
use dicom_fhir_core::{DicomError, ErrorKind, ParsedInstance};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyList, PyMemoryView, PyString};
use serde_json::Value;

pyo3::create_exception!(
    dicom_fhir,
    DicomFhirError,
    PyException,
    "Base class of the errors of dicom_fhir."
);
pyo3::create_exception!(
    dicom_fhir,
    ServerError,
    DicomFhirError,
    "The server cannot be used: unreachable, TLS error, 401/403, not a FHIR server, plugin not installed. `kind` says which."
);
pyo3::create_exception!(
    dicom_fhir,
    UploadError,
    DicomFhirError,
    "Some files failed to upload. `report` holds the full upload report (a dict)."
);

// One exception class per kind of core error (`dicom_fhir_core::ErrorKind`), one to one. The
// kinds a caller can cause are ValueErrors, as every core error was before.
pyo3::create_exception!(
    dicom_fhir,
    InvalidDicomError,
    PyValueError,
    "The input is not a valid DICOM instance (ErrorKind::InvalidInput). A ValueError."
);
pyo3::create_exception!(
    dicom_fhir,
    DicomLimitError,
    PyValueError,
    "A limit was reached, e.g. a deflated data set inflating too far (ErrorKind::LimitExceeded). A ValueError."
);
pyo3::create_exception!(
    dicom_fhir,
    UnsupportedDicomError,
    PyValueError,
    "Valid DICOM that dicom_fhir does not handle, e.g. an unknown transfer syntax (ErrorKind::Unsupported). A ValueError."
);
pyo3::create_exception!(
    dicom_fhir,
    CorruptStoredError,
    DicomFhirError,
    "Data stored earlier cannot be read (ErrorKind::CorruptStored)."
);
pyo3::create_exception!(
    dicom_fhir,
    DicomInternalError,
    DicomFhirError,
    "A bug in the dicom-fhir core (ErrorKind::Internal)."
);

/// The Python exception of a core error, by kind; `context` prefixes the message.
fn dicom_error(e: &DicomError, context: &str) -> PyErr {
    let msg = format!("{context}{e}");
    match e.kind() {
        ErrorKind::InvalidInput => InvalidDicomError::new_err(msg),
        ErrorKind::LimitExceeded => DicomLimitError::new_err(msg),
        ErrorKind::Unsupported => UnsupportedDicomError::new_err(msg),
        ErrorKind::CorruptStored => CorruptStoredError::new_err(msg),
        // ErrorKind is non-exhaustive: a kind added later is not the caller's fault either
        _ => DicomInternalError::new_err(msg),
    }
}

/// A serde_json value as a Python object (dict, list, str, int, float, bool, None).
fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// One parsed DICOM instance: what the dicom-fhir plugin derives from it.
#[pyclass(frozen, module = "dicom_fhir", name = "Instance")]
struct Instance {
    /// Lowercase hex SHA-256 of the bytes: the id of the Binary the plugin stores them as.
    #[pyo3(get)]
    sha256: String,
    /// Size in bytes.
    #[pyo3(get)]
    size: u64,
    #[pyo3(get)]
    study_instance_uid: String,
    #[pyo3(get)]
    series_instance_uid: String,
    #[pyo3(get)]
    sop_instance_uid: String,
    #[pyo3(get)]
    sop_class_uid: String,
    #[pyo3(get)]
    transfer_syntax_uid: String,
    parsed: ParsedInstance,
    result: Value,
}

impl Instance {
    /// The properties are read once from the parse result (the native contract's names).
    fn new(parsed: ParsedInstance, result: Value) -> Instance {
        let text = |key: &str| result[key].as_str().unwrap_or_default().to_string();
        Instance {
            sha256: text("sha256"),
            size: result["size"].as_u64().unwrap_or_default(),
            study_instance_uid: text("studyInstanceUid"),
            series_instance_uid: text("seriesInstanceUid"),
            sop_instance_uid: text("sopInstanceUid"),
            sop_class_uid: text("sopClassUid"),
            transfer_syntax_uid: text("transferSyntaxUid"),
            parsed,
            result,
        }
    }
}

#[pymethods]
impl Instance {
    /// `{"system": ..., "value": ...}`: the Patient identifier the plugin uses.
    #[getter]
    fn patient_identifier<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.result["patientIdentifier"])
    }
    /// Validation problems: attributes that are wrong but do not stop the instance being stored.
    #[getter]
    fn problems(&self) -> Vec<String> {
        self.result["warnings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// DICOM JSON (PS3.18 F.2) of the data set; large binary values become BulkDataURIs under
    /// `bulk_data_uri_base`.
    #[pyo3(signature = (bulk_data_uri_base = ""))]
    fn dicom_json<'py>(
        &self,
        py: Python<'py>,
        bulk_data_uri_base: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.parsed.dicom_json(bulk_data_uri_base))
    }
    /// The FHIR R4 ImagingStudy holding only this instance (no id, subject or endpoint).
    fn imaging_study<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.result["imagingStudy"])
    }
    /// The FHIR R4 Patient (identifier, name, gender, birthDate; no id).
    fn patient<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.result["patient"])
    }
    /// The whole parse result of the native contract (docs/architecture.md) as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.result)
    }
    fn __repr__(&self) -> String {
        format!(
            "<dicom_fhir.Instance sop_instance_uid={:?} study_instance_uid={:?} sha256={:?} problems={}>",
            self.sop_instance_uid, self.study_instance_uid, self.sha256,
            self.problems().len()
        )
    }
}

/// Parses a DICOM Part-10 instance from a path (str or os.PathLike) or from bytes.
///
/// Returns an `Instance`. Raises ValueError when the input is not valid DICOM (the message says
/// why): `InvalidDicomError`, or `UnsupportedDicomError` / `DicomLimitError` for an unknown
/// transfer syntax or a data set inflating too far (all three ValueErrors); OSError when the file
/// cannot be read, TypeError for other argument types.
#[pyfunction]
#[pyo3(signature = (source, *, patient_identifier_system = None, default_timezone = None))]
fn read(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    patient_identifier_system: Option<String>,
    default_timezone: Option<String>,
) -> PyResult<Instance> {
    let (bytes, label) = if let Ok(b) = source.cast::<PyBytes>() {
        (b.as_bytes().to_vec(), "bytes".to_string())
    } else if let Ok(b) = source.cast::<PyByteArray>() {
        (b.to_vec(), "bytearray".to_string())
    } else if source.cast::<PyMemoryView>().is_ok() {
        let b = py.import("builtins")?.getattr("bytes")?.call1((source,))?;
        (
            b.cast::<PyBytes>()?.as_bytes().to_vec(),
            "memoryview".to_string(),
        )
    } else if let Ok(path) = source.extract::<PathBuf>() {
        let bytes = py.detach(|| std::fs::read(&path)).map_err(PyErr::from)?;
        (bytes, path.display().to_string())
    } else {
        return Err(PyTypeError::new_err(format!(
            "read() takes a path (str or os.PathLike) or bytes, not {}",
            source.get_type().name()?
        )));
    };
    let options = dicom_fhir_core::DeriveOptions {
        patient_identifier_system,
        default_timezone,
    };
    let read = py.detach(|| dicom_fhir_core::read_instance(&bytes, &options));
    let (parsed, result) = read
        .map_err(|e| dicom_error(&e, &format!("{label}: not valid DICOM: ")))?
        .into_parts();
    Ok(Instance::new(parsed, result))
}

/// Forwards progress to a Python callable; a raising callback (or Ctrl-C) cancels.
struct PyProgress {
    callback: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
    cancelled: AtomicBool,
}

impl PyProgress {
    fn fail(&self, e: PyErr) {
        self.cancelled.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap();
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

impl Progress for PyProgress {
    fn update(&self, event: &ProgressEvent) {
        if self.cancelled.load(Ordering::Relaxed) || self.callback.is_none() {
            return;
        }
        Python::attach(|py| {
            if let Some(cb) = &self.callback {
                let value = serde_json::to_value(event).unwrap_or(Value::Null);
                let result = to_py(py, &value).and_then(|arg| cb.call1(py, (arg,)));
                if let Err(e) = result {
                    self.fail(e);
                }
            }
        });
    }
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Runs `work` on another thread with the GIL released; the calling (main) thread wakes every
/// 100 ms to let Python handle signals, so Ctrl-C cancels the work (the KeyboardInterrupt is
/// raised once the work has stopped).
fn run_interruptible<T: Send>(
    py: Python<'_>,
    sink: &PyProgress,
    work: impl FnOnce() -> T + Send,
) -> T {
    std::thread::scope(|scope| {
        let handle = scope.spawn(work);
        loop {
            let finished = py.detach(|| {
                let deadline = std::time::Instant::now() + Duration::from_millis(100);
                while !handle.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                handle.is_finished()
            });
            if finished {
                return handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
            }
            if let Err(e) = py.check_signals() {
                sink.fail(e);
            }
        }
    })
}

fn paths_of(paths: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if paths.is_instance_of::<PyString>() || paths.hasattr("__fspath__")? {
        return Ok(vec![paths.extract::<PathBuf>()?]);
    }
    let mut out = Vec::new();
    for item in paths.try_iter()? {
        out.push(item?.extract::<PathBuf>()?);
    }
    Ok(out)
}

/// SMART Backend Services keyword arguments (`smart_*=`), shared by upload() and verify().
#[derive(Default)]
struct SmartArgs {
    client_id: Option<String>,
    key: Option<PathBuf>,
    token_url: Option<String>,
    scope: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
}

impl SmartArgs {
    fn given(&self) -> bool {
        self.client_id.is_some()
            || self.key.is_some()
            || self.token_url.is_some()
            || self.scope.is_some()
            || self.alg.is_some()
            || self.kid.is_some()
    }
    /// Each missing one from its DICOMFHIR_SMART_* variable.
    fn or_env(self) -> SmartArgs {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        SmartArgs {
            client_id: self.client_id.or_else(|| env("DICOMFHIR_SMART_CLIENT_ID")),
            key: self
                .key
                .or_else(|| env("DICOMFHIR_SMART_KEY").map(PathBuf::from)),
            token_url: self.token_url.or_else(|| env("DICOMFHIR_SMART_TOKEN_URL")),
            scope: self.scope.or_else(|| env("DICOMFHIR_SMART_SCOPE")),
            alg: self.alg.or_else(|| env("DICOMFHIR_SMART_ALG")),
            kid: self.kid.or_else(|| env("DICOMFHIR_SMART_KID")),
        }
    }
    fn config(self) -> Result<Option<SmartConfig>, ClientError> {
        match (self.client_id, self.key) {
            (Some(client_id), Some(key_file)) => Ok(Some(SmartConfig {
                client_id,
                key_file,
                alg: self.alg,
                kid: self.kid,
                scope: self.scope,
                token_url: self.token_url,
            })),
            (Some(_), None) => Err(ClientError::Config(
                "smart_client_id needs smart_key (or DICOMFHIR_SMART_KEY): the PEM private key the client signs its token requests with".into(),
            )),
            (None, Some(_)) => Err(ClientError::Config(
                "smart_key needs smart_client_id (or DICOMFHIR_SMART_CLIENT_ID)".into(),
            )),
            (None, None) if self.token_url.is_some() || self.scope.is_some() => {
                Err(ClientError::Config(
                    "smart_token_url and smart_scope need smart_client_id and smart_key".into(),
                ))
            }
            (None, None) => Ok(None),
        }
    }
}

/// The keyword arguments upload() and verify() share (`**connection: Unpack[Connection]` in
/// dicom_fhir.pyi): how to reach and authenticate to the server, how many requests at a time.
struct Connection {
    jobs: usize,
    token: Option<String>,
    ca_file: Option<PathBuf>,
    timeout: f64,
    smart: SmartArgs,
}

impl Connection {
    /// Reads the keyword arguments left over by `function`'s own; an unknown one is a
    /// TypeError, as for any Python function.
    fn from_kwargs(function: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Connection> {
        let mut c = Connection {
            jobs: 4,
            token: None,
            ca_file: None,
            timeout: 300.0,
            smart: SmartArgs::default(),
        };
        for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
            let key: String = key.extract()?;
            let wrong =
                |e: PyErr| PyTypeError::new_err(format!("{function}() argument '{key}': {e}"));
            match key.as_str() {
                "jobs" => c.jobs = value.extract().map_err(wrong)?,
                "token" => c.token = value.extract().map_err(wrong)?,
                "ca_file" => c.ca_file = value.extract().map_err(wrong)?,
                "timeout" => c.timeout = value.extract().map_err(wrong)?,
                "smart_client_id" => c.smart.client_id = value.extract().map_err(wrong)?,
                "smart_key" => c.smart.key = value.extract().map_err(wrong)?,
                "smart_token_url" => c.smart.token_url = value.extract().map_err(wrong)?,
                "smart_scope" => c.smart.scope = value.extract().map_err(wrong)?,
                "smart_alg" => c.smart.alg = value.extract().map_err(wrong)?,
                "smart_kid" => c.smart.kid = value.extract().map_err(wrong)?,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "{function}() got an unexpected keyword argument '{key}'"
                    )))
                }
            }
        }
        c.jobs = c.jobs.max(1);
        Ok(c)
    }

    /// The client of `server`, and how many requests it may run at a time.
    fn connect(self, server: String) -> PyResult<(Fhir, usize)> {
        let fhir = client(server, self.token, self.smart, self.ca_file, self.timeout)?;
        Ok((fhir, self.jobs))
    }
}

/// Explicit arguments first: an explicit `token` ignores the DICOMFHIR_SMART_* variables, an
/// explicit `smart_*` ignores DICOMFHIR_TOKEN; both explicit (or both from the environment) is
/// an error.
fn client(
    server: String,
    token: Option<String>,
    smart: SmartArgs,
    ca_file: Option<PathBuf>,
    timeout: f64,
) -> PyResult<Fhir> {
    let mut config = ClientConfig::new(server);
    let (token, smart) = match (token, smart.given()) {
        (Some(_), true) => {
            return Err(server_error(&ClientError::Config(
                "give either token= or SMART Backend Services credentials (smart_client_id=, smart_key=), not both".into(),
            )));
        }
        (Some(t), false) => (Some(t), SmartArgs::default()),
        (None, true) => (None, smart.or_env()),
        (None, false) => (
            std::env::var("DICOMFHIR_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            smart.or_env(),
        ),
    };
    config.smart = smart.config().map_err(|e| server_error(&e))?;
    config.token = token;
    if config.token.is_some() && config.smart.is_some() {
        return Err(server_error(&ClientError::Config(
            "both DICOMFHIR_TOKEN and DICOMFHIR_SMART_CLIENT_ID/DICOMFHIR_SMART_KEY are set: unset one, or pass token= or smart_client_id=/smart_key= explicitly".into(),
        )));
    }
    config.ca_file = ca_file;
    config.timeout = Duration::from_secs_f64(timeout.max(0.001));
    Fhir::new(&config).map_err(|e| server_error(&e))
}

fn server_error(e: &ClientError) -> PyErr {
    let err = ServerError::new_err(e.to_string());
    Python::attach(|py| {
        let _ = err.value(py).setattr("kind", e.kind());
    });
    err
}

fn runtime(jobs: usize) -> PyResult<tokio::runtime::Runtime> {
    dicom_fhir_client::upload::runtime(jobs)
        .map_err(|e| DicomFhirError::new_err(format!("cannot start the runtime: {e}")))
}

/// Runs one client operation (upload, verify) on its own runtime, interruptible by Ctrl-C,
/// forwarding progress to `callback`; returns its report and the report as a Python object. An
/// exception raised by the callback (or Ctrl-C) wins over the operation's own error.
fn run_report<'py, R: serde::Serialize + Send>(
    py: Python<'py>,
    jobs: usize,
    callback: Option<Py<PyAny>>,
    operation: impl FnOnce(&tokio::runtime::Runtime, Arc<PyProgress>) -> Result<R, ClientError> + Send,
) -> PyResult<(R, Bound<'py, PyAny>)> {
    let sink = Arc::new(PyProgress {
        callback,
        error: Mutex::new(None),
        cancelled: AtomicBool::new(false),
    });
    let rt = runtime(jobs)?;
    let result = run_interruptible(py, &sink, || operation(&rt, sink.clone()));
    if let Some(e) = sink.error.lock().unwrap().take() {
        return Err(e);
    }
    let report = result.map_err(|e| server_error(&e))?;
    let value =
        serde_json::to_value(&report).map_err(|e| DicomFhirError::new_err(e.to_string()))?;
    let dict = to_py(py, &value)?;
    Ok((report, dict))
}

/// Uploads every DICOM file under `paths` (files or folders, walked recursively) to the FHIR
/// server with the dicom-fhir plugin, with the same client as the `dicom-fhir upload` command.
///
/// Files that are not DICOM (no "DICM" prefix) and DICOMDIRs are skipped; invalid (damaged)
/// DICOM files fail without being sent. Instances whose Binary (same SHA-256) is already stored
/// are skipped without sending them. Returns the report (a dict). Raises UploadError (with `.report`) when some files failed,
/// ServerError (with `.kind`) when the server cannot be used. `progress`, when given, is called
/// with a dict (phase, files_done, files_total, bytes_done, bytes_total, skipped_existing,
/// not_dicom, failed) after every file; if it raises, the upload stops and the exception
/// propagates.
#[pyfunction]
#[pyo3(signature = (paths, server, *, progress = None, retries = 4, resume = true, stow = false, stow_url = None, stow_batch = 20, **connection))]
#[allow(clippy::too_many_arguments)]
fn upload<'py>(
    py: Python<'py>,
    paths: &Bound<'py, PyAny>,
    server: String,
    progress: Option<Py<PyAny>>,
    retries: u32,
    resume: bool,
    stow: bool,
    stow_url: Option<String>,
    stow_batch: usize,
    connection: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let paths = paths_of(paths)?;
    let (fhir, jobs) = Connection::from_kwargs("upload", connection)?.connect(server)?;
    let options = UploadOptions {
        jobs,
        retries,
        resume,
        stow: stow.then(|| StowOptions {
            url: stow_url.unwrap_or_else(|| format!("{}/dicomweb/studies", fhir.base())),
            batch: stow_batch.max(1),
        }),
        ..Default::default()
    };
    let (report, dict) = run_report(py, jobs, progress, |rt, sink| {
        rt.block_on(dicom_fhir_client::upload(&fhir, &paths, &options, sink))
    })?;
    if !report.ok() {
        let mut msg = format!(
            "{} of {} files failed to upload:",
            report.failed.len(),
            report.files
        );
        for f in report.failed.iter().take(20) {
            msg.push_str(&format!("\n  {}: {}", f.path, f.reason));
        }
        if report.failed.len() > 20 {
            msg.push_str(&format!(
                "\n  ... and {} more (see .report)",
                report.failed.len() - 20
            ));
        }
        let err = UploadError::new_err(msg);
        err.value(py).setattr("report", &dict)?;
        return Err(err);
    }
    Ok(dict)
}

/// Audits the store like `dicom-fhir verify`: every DICOM Binary hashes to its id, every
/// ImagingStudy instance references an existing Binary, every DICOM Binary is listed in its
/// ImagingStudy. Returns the report (a dict with `problems`, empty when the store is clean).
/// With `repair=True`, unlisted Binaries are re-uploaded and entries pointing at missing
/// Binaries are removed; each problem then says what was done in `repair`.
#[pyfunction]
#[pyo3(signature = (server, *, study = None, repair = false, **connection))]
fn verify<'py>(
    py: Python<'py>,
    server: String,
    study: Option<String>,
    repair: bool,
    connection: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (fhir, jobs) = Connection::from_kwargs("verify", connection)?.connect(server)?;
    let options = VerifyOptions {
        study,
        repair,
        jobs,
    };
    let (_, dict) = run_report(py, jobs, None, |rt, sink| {
        rt.block_on(dicom_fhir_client::verify(&fhir, &options, sink))
    })?;
    Ok(dict)
}

/// dicom-fhir for Python: read DICOM the way the dicom-fhir FHIR plugin does, upload folders of
/// DICOM to the server, and audit what is stored. See docs/python.md.
#[pymodule]
fn dicom_fhir(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DicomFhirError", py.get_type::<DicomFhirError>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("UploadError", py.get_type::<UploadError>())?;
    m.add("InvalidDicomError", py.get_type::<InvalidDicomError>())?;
    m.add("DicomLimitError", py.get_type::<DicomLimitError>())?;
    m.add(
        "UnsupportedDicomError",
        py.get_type::<UnsupportedDicomError>(),
    )?;
    m.add("CorruptStoredError", py.get_type::<CorruptStoredError>())?;
    m.add("DicomInternalError", py.get_type::<DicomInternalError>())?;
    m.add_class::<Instance>()?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(upload, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    Ok(())
}
