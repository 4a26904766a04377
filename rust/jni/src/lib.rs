//! JNI surface of dicom-fhir for the Java class `org.dicomfhir.bridge.DicomNative`.
//!
//! Thin wrappers only: every DICOM rule lives in `dicom-fhir-core`; this crate converts JNI
//! arguments to Rust values, calls the core, and turns the outcome into a Java return value or
//! exception (see `docs/architecture.md`, "The native contract"):
//!
//! * `DicomError` from the core      -> `org.dicomfhir.bridge.DicomException(kind, message)`, or
//!   its subclass `DicomLimitException` for `ErrorKind::LimitExceeded`; `kind` is the name of the
//!   core's `ErrorKind` (`ErrorKind::as_str`, Java's `DicomException.Kind`), one to one
//! * malformed JSON / bad arguments  -> `java.lang.IllegalArgumentException`
//! * null where a value is required  -> `java.lang.NullPointerException`
//! * any Rust panic                  -> `java.lang.IllegalStateException("dicom-fhir native panic: ...")`
//!
//! Byte input crosses in one of two ways: `parse(byte[])` copies the array once into Rust memory
//! (`GetByteArrayRegion`; no GC lock is held while the core runs on untrusted input), and
//! `parseDirect(ByteBuffer)` reads a direct buffer in place (zero copy).

use std::ffi::c_void;
use std::fs::File;
use std::io::BufReader;

use dicom_fhir_core::{DeriveOptions, DicomError, RenderQuery};
use jni::objects::{JByteArray, JByteBuffer, JClass, JObjectArray, JString};
use jni::sys::{jint, jlong, JNI_VERSION_1_8};
use jni::{Env, EnvUnowned, JavaVM};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod failure;

use failure::{install_panic_hook, Failure, Res, ThrowJava};

/// Called by the JVM on `System.load`/`System.loadLibrary`.
///
/// # Safety
/// `vm` is the valid `JavaVM` pointer the JVM passes to `JNI_OnLoad`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn JNI_OnLoad(
    vm: *mut jni::sys::JavaVM,
    _reserved: *mut c_void,
) -> jint {
    let _ = std::panic::catch_unwind(|| {
        install_panic_hook();
        // Registers the jni-rs JavaVM singleton (used e.g. when releasing array elements).
        // SAFETY: the JVM hands us a valid, non-null JavaVM pointer.
        let _ = unsafe { JavaVM::from_raw(vm) };
    });
    JNI_VERSION_1_8
}

// ---------------------------------------------------------------------------------------------
// Argument / result conversion
// ---------------------------------------------------------------------------------------------

fn required_string(env: &Env<'_>, s: &JString<'_>, name: &'static str) -> Res<String> {
    if s.is_null() {
        return Err(Failure::NullArgument(name));
    }
    Ok(s.try_to_string(env)?)
}

fn optional_string(env: &Env<'_>, s: &JString<'_>) -> Res<Option<String>> {
    if s.is_null() {
        Ok(None)
    } else {
        Ok(Some(s.try_to_string(env)?))
    }
}

/// Optional JSON parameters (`optionsJson`, `queryJson`): null or blank means the defaults.
fn optional_json<T: DeserializeOwned + Default>(env: &Env<'_>, json: &JString<'_>, name: &str) -> Res<T> {
    match optional_string(env, json)? {
        None => Ok(T::default()),
        Some(s) if s.trim().is_empty() => Ok(T::default()),
        Some(s) => serde_json::from_str(&s).map_err(|e| Failure::IllegalArgument(format!("invalid {name}: {e}"))),
    }
}

fn json_value(text: &str, what: &str) -> Res<Value> {
    serde_json::from_str(text)
        .map_err(|e| Failure::IllegalArgument(format!("{what} is not valid JSON: {e}")))
}

/// A JSON argument that must be there (a request, a study, an outcome).
fn required_json(env: &Env<'_>, s: &JString<'_>, name: &'static str) -> Res<Value> {
    json_value(&required_string(env, s, name)?, name)
}

/// The bytes of a Java byte[] that must be there, copied once into Rust memory
/// (GetByteArrayRegion). Deliberately not GetPrimitiveArrayCritical: it would block the GC
/// while the core parses, decodes or hashes untrusted input, which can take long.
fn copied_bytes(env: &Env<'_>, data: &JByteArray<'_>, name: &'static str) -> Res<Vec<u8>> {
    if data.is_null() {
        return Err(Failure::NullArgument(name));
    }
    Ok(env.convert_byte_array(data)?)
}

fn string_array(
    env: &mut Env<'_>,
    array: &JObjectArray<'_, JString<'_>>,
    name: &'static str,
) -> Res<Vec<String>> {
    if array.is_null() {
        return Err(Failure::NullArgument(name));
    }
    let len = array.len(env)?;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let element = array.get_element(env, i)?;
        if element.is_null() {
            return Err(Failure::IllegalArgument(format!("{name}[{i}] is null")));
        }
        out.push(element.try_to_string(env)?);
        // Free the local reference now: arrays may be long and the frame is shared.
        env.delete_local_ref(element);
    }
    Ok(out)
}

fn to_jstring<'l>(env: &mut Env<'l>, value: &impl Serialize) -> Res<JString<'l>> {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::IllegalArgument(format!("result not serializable: {e}")))?;
    Ok(JString::from_str(env, text)?)
}

// ---------------------------------------------------------------------------------------------
// The shape of every native method
// ---------------------------------------------------------------------------------------------

/// Declares one exported native method of `DicomNative`: the JNI signature (`EnvUnowned`, the
/// class, then the Java arguments) and one way out. The body reads the arguments and calls the
/// core with `env: &mut Env`, returning `Res<ret>`; an `Err` or a panic becomes the Java
/// exception of [`ThrowJava`] (and the default value is returned), so no error and no panic
/// crosses into the JVM. The symbol is the function name, spelled out at each use so that
/// `grep Java_org_dicomfhir_bridge_DicomNative_x` finds it; argument and return types name the
/// lifetime `'l` of the JNI local frame.
macro_rules! native {
    (
        $(#[$attr:meta])*
        fn $name:ident($env:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty { $($body:tt)* }
    ) => {
        $(#[$attr])*
        #[unsafe(no_mangle)]
        pub extern "system" fn $name<'l>(
            mut unowned: EnvUnowned<'l>,
            _class: JClass<'l>,
            $($arg: $ty),*
        ) -> $ret {
            unowned
                .with_env(|$env| -> Res<$ret> { $($body)* })
                .resolve::<ThrowJava>()
        }
    };
    (
        $(#[$attr:meta])*
        fn $name:ident($env:ident $(, $arg:ident: $ty:ty)* $(,)?) { $($body:tt)* }
    ) => {
        native! { $(#[$attr])* fn $name($env $(, $arg: $ty)*) -> () { $($body)* } }
    };
}

/// `optionsJson` of `parse`: the derivation options, and the QIDO index's configured tags (when
/// present, the result has `qidoIndex`, the instance's values of the indexed tags).
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ParseOptions {
    #[serde(flatten)]
    derive: DeriveOptions,
    qido_indexed_tags: Option<Vec<String>>,
}

fn parse_instance(bytes: &[u8], options: &ParseOptions) -> Result<Value, DicomError> {
    let (parsed, mut result) = dicom_fhir_core::read_instance(bytes, &options.derive)?.into_parts();
    if let (Some(extra), Some(object)) = (&options.qido_indexed_tags, result.as_object_mut()) {
        object.insert("qidoIndex".into(), dicom_fhir_core::qido_instance_index(&parsed, extra));
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Native methods of org.dicomfhir.bridge.DicomNative
// ---------------------------------------------------------------------------------------------

native! {
    /// `static native String parse(byte[] data, String optionsJson)`
    fn Java_org_dicomfhir_bridge_DicomNative_parse(
        env,
        data: JByteArray<'l>,
        options_json: JString<'l>,
    ) -> JString<'l> {
        // Callers with large payloads can use parseDirect (zero copy).
        let bytes = copied_bytes(env, &data, "data")?;
        let options: ParseOptions = optional_json(env, &options_json, "optionsJson")?;
        let result = parse_instance(&bytes, &options)?;
        drop(bytes);
        to_jstring(env, &result)
    }
}

native! {
    /// `static native String parseDirect(java.nio.ByteBuffer direct, String optionsJson)`: zero copy.
    /// JNI only sees a direct buffer's address and capacity (not position/limit), so the whole
    /// capacity is parsed; the Java side passes `buffer.slice()` to parse just the remaining bytes.
    fn Java_org_dicomfhir_bridge_DicomNative_parseDirect(
        env,
        buffer: JByteBuffer<'l>,
        options_json: JString<'l>,
    ) -> JString<'l> {
        if buffer.is_null() {
            return Err(Failure::NullArgument("direct"));
        }
        let options: ParseOptions = optional_json(env, &options_json, "optionsJson")?;
        let (ptr, len) = match (env.get_direct_buffer_address(&buffer), env.get_direct_buffer_capacity(&buffer)) {
            (Ok(p), Ok(n)) => (p, n),
            _ => {
                return Err(Failure::IllegalArgument(
                    "parseDirect needs a direct ByteBuffer (ByteBuffer.allocateDirect or a MappedByteBuffer)".into(),
                ))
            }
        };
        let result = if len == 0 {
            parse_instance(&[], &options)?
        } else {
            // SAFETY: JNI guarantees `ptr` addresses `len` bytes of the direct buffer, and the
            // buffer object stays reachable (it is an argument) for the whole call. The core
            // only reads. A Java thread writing the buffer concurrently would be a caller bug.
            let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
            parse_instance(bytes, &options)?
        };
        to_jstring(env, &result)
    }
}

native! {
    /// `static native String mergeStudy(String existingOrNull, String[] fragments)`
    fn Java_org_dicomfhir_bridge_DicomNative_mergeStudy(
        env,
        existing: JString<'l>,
        fragments: JObjectArray<'l, JString<'l>>,
    ) -> JString<'l> {
        let existing = match optional_string(env, &existing)? {
            Some(s) => Some(json_value(&s, "existing ImagingStudy")?),
            None => None,
        };
        let fragments = string_array(env, &fragments, "fragments")?
            .iter()
            .enumerate()
            .map(|(i, s)| json_value(s, &format!("fragments[{i}]")))
            .collect::<Res<Vec<Value>>>()?;
        // By value: a large study is merged in place, not copied first.
        let merged = dicom_fhir_core::merge_study_owned(existing, &fragments)?;
        to_jstring(env, &merged)
    }
}

native! {
    /// `static native String removeInstances(String study, String[] sopUids)`: null when the study
    /// has no instance left.
    fn Java_org_dicomfhir_bridge_DicomNative_removeInstances(
        env,
        study: JString<'l>,
        sop_uids: JObjectArray<'l, JString<'l>>,
    ) -> JString<'l> {
        let study = required_json(env, &study, "study")?;
        let uids = string_array(env, &sop_uids, "sopUids")?;
        let uids: Vec<&str> = uids.iter().map(String::as_str).collect();
        match dicom_fhir_core::remove_instances_owned(study, &uids)? {
            Some(rest) => to_jstring(env, &rest),
            None => Ok(JString::default()),
        }
    }
}

native! {
    /// `static native String sha256(byte[] data)`: lowercase hex.
    fn Java_org_dicomfhir_bridge_DicomNative_sha256(env, data: JByteArray<'l>) -> JString<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        Ok(JString::from_str(env, dicom_fhir_core::sha256_hex(&bytes))?)
    }
}

native! {
    /// `static native String version()`: version of this native library.
    fn Java_org_dicomfhir_bridge_DicomNative_version(env) -> JString<'l> {
        Ok(JString::from_str(env, env!("CARGO_PKG_VERSION"))?)
    }
}

native! {
    /// `static native void panicForTest()`: panics with a formatted (`String`) payload so tests can
    /// prove that a panic becomes an `IllegalStateException` and the JVM survives.
    #[doc(hidden)]
    fn Java_org_dicomfhir_bridge_DicomNative_panicForTest(_env) {
        let what = "deliberate panic";
        panic!("panicForTest: {what}");
    }
}


// ---------------------------------------------------------------------------------------------
// DICOMweb (QIDO-RS, WADO-RS metadata): see dicom_fhir_core::qido and docs/dicomweb.md
// ---------------------------------------------------------------------------------------------

native! {
    /// `static native String qidoPlan(String requestJson)`: validates a QIDO query (a bad query is a
    /// `DicomException`) and returns the FHIR narrowing plan.
    fn Java_org_dicomfhir_bridge_DicomNative_qidoPlan(env, request: JString<'l>) -> JString<'l> {
        let request = required_json(env, &request, "request")?;
        let plan = dicom_fhir_core::qido_plan(&request)?;
        to_jstring(env, &plan)
    }
}

native! {
    /// `static native String qidoIndexedTags(String extraTagsJson)`: the QIDO index's tag set (the
    /// core's defaults plus a JSON array of keywords or tags), `{"set", "tags", "maxValueChars"}`; a
    /// `DicomException` names an entry that is no attribute matchable by value.
    fn Java_org_dicomfhir_bridge_DicomNative_qidoIndexedTags(env, extra: JString<'l>) -> JString<'l> {
        let extra: Vec<String> = optional_json(env, &extra, "extraTagsJson")?;
        let set = dicom_fhir_core::qido_indexed_tags(&extra)?;
        to_jstring(env, &set)
    }
}

native! {
    /// `static native byte[] qidoAnswer(String requestJson, String candidatesJson)`: the QIDO-RS
    /// answer as UTF-8 in two lines, `{"total":n,"remaining":k,"warnings":[..]}` then the matches
    /// (a DICOM JSON array) that the caller sends as they are: a large answer is neither turned
    /// into a Java string nor parsed and written again by Jackson.
    fn Java_org_dicomfhir_bridge_DicomNative_qidoAnswer(
        env,
        request: JString<'l>,
        candidates: JString<'l>,
    ) -> JByteArray<'l> {
        let request = required_json(env, &request, "request")?;
        let candidates = required_json(env, &candidates, "candidates")?;
        let mut result = dicom_fhir_core::qido_query(&request, &candidates)?;
        let matches = result
            .as_object_mut()
            .and_then(|o| o.remove("matches"))
            .unwrap_or_else(|| Value::Array(Vec::new()));
        // serde_json's compact form has no raw newline: the first one ends the summary
        let mut out = result.to_string().into_bytes();
        out.push(b'\n');
        out.extend_from_slice(matches.to_string().as_bytes());
        Ok(env.byte_array_from_slice(&out)?)
    }
}

native! {
    /// `static native String qidoStoredValues(byte[] data, String storedJson)`: the values of one
    /// stored instance a QIDO answer needs (`storedJson` is the plan's `stored`: its `tags`, or
    /// every attribute when `all`), as DICOM JSON; bytes that do not parse are CORRUPT_STORED.
    fn Java_org_dicomfhir_bridge_DicomNative_qidoStoredValues(
        env,
        data: JByteArray<'l>,
        stored: JString<'l>,
    ) -> JString<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let stored = required_json(env, &stored, "stored")?;
        let json = dicom_fhir_core::qido_stored_values(&bytes, &stored)?;
        drop(bytes);
        Ok(JString::from_str(env, json)?)
    }
}

native! {
    /// `static native String dicomJson(byte[] data, String bulkDataUriBase)`: the PS3.18 F.2 DICOM
    /// JSON object of one Part-10 instance (BulkDataURIs below `bulkDataUriBase`).
    fn Java_org_dicomfhir_bridge_DicomNative_dicomJson(
        env,
        data: JByteArray<'l>,
        base: JString<'l>,
    ) -> JString<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let base = required_string(env, &base, "bulkDataUriBase")?;
        // The bytes are a stored instance: one that does not parse is CorruptStored.
        let json = dicom_fhir_core::stored_dicom_json(&bytes, &base)?;
        drop(bytes);
        Ok(JString::from_str(env, json)?)
    }
}

// ---------------------------------------------------------------------------------------------
// WADO-RS frames and bulk data: see dicom_fhir_core::{frames, bulkdata} and docs/dicomweb.md
// ---------------------------------------------------------------------------------------------

/// A list of chunks as JSON: `[offset, length]` for a range of the input, a base64 string for
/// bytes made for the answer.
fn chunks_json(chunks: &[dicom_fhir_core::Chunk]) -> Value {
    use dicom_fhir_core::Chunk;
    Value::Array(
        chunks
            .iter()
            .map(|c| match c {
                Chunk::File { offset, length } => serde_json::json!([offset, length]),
                Chunk::Bytes(b) => Value::String(dicom_fhir_core::base64(b)),
            })
            .collect(),
    )
}

/// Where a stored instance is read from for a header walk: a Java byte[] (pinned, not copied)
/// or a file (only its headers are read).
enum Stored<'a, 'l> {
    Bytes(&'a JByteArray<'l>),
    File(&'a JString<'l>),
}

impl Stored<'_, '_> {
    /// Runs the walk that fits the source: `in_bytes` over the pinned array, `in_file` over the
    /// opened file.
    fn walk<T>(
        &self,
        env: &Env<'_>,
        in_bytes: impl FnOnce(&[u8]) -> Result<T, DicomError>,
        in_file: impl FnOnce(&mut BufReader<File>) -> Result<T, DicomError>,
    ) -> Res<T> {
        match self {
            Stored::Bytes(data) => with_critical_bytes(env, data, |bytes| Ok(in_bytes(bytes)?)),
            Stored::File(path) => Ok(in_file(&mut open_file(env, path)?)?),
        }
    }
}

/// The answer of `frames` / `framesOfFile`: parses the frame list, then locates those frames in
/// the stored instance; a deflated data set may inflate to at most `max_inflated_bytes`.
fn frames_answer<'l>(
    env: &mut Env<'l>,
    stored: Stored<'_, '_>,
    frame_list: &JString<'_>,
    max_inflated_bytes: jlong,
) -> Res<JString<'l>> {
    let cap = max_inflated(max_inflated_bytes);
    let list = required_string(env, frame_list, "frameList")?;
    let numbers = dicom_fhir_core::parse_frame_list(&list)?;
    let frames = stored.walk(
        env,
        |bytes| dicom_fhir_core::frames_in_limited(bytes, &numbers, cap),
        |file| dicom_fhir_core::frames_limited(file, &numbers, cap),
    )?;
    let out = serde_json::json!({
        "transferSyntaxUid": frames.transfer_syntax_uid,
        "numberOfFrames": frames.number_of_frames,
        "encapsulated": frames.encapsulated,
        "frames": frames.frames.iter().map(|f| match f {
            Some(c) => chunks_json(c),
            None => Value::Null,
        }).collect::<Vec<_>>(),
    });
    to_jstring(env, &out)
}

/// The answer of `bulkdata` / `bulkdataOfFile`: locates the tag path in the stored instance; null
/// (a default `JString`) when the instance has no such element.
fn bulk_answer<'l>(
    env: &mut Env<'l>,
    stored: Stored<'_, '_>,
    tag_path: &JString<'_>,
    max_inflated_bytes: jlong,
) -> Res<JString<'l>> {
    let cap = max_inflated(max_inflated_bytes);
    let path = required_string(env, tag_path, "tagPath")?;
    let value = stored.walk(
        env,
        |bytes| dicom_fhir_core::locate_in_limited(bytes, &path, cap),
        |file| dicom_fhir_core::locate_limited(file, &path, cap),
    )?;
    match value {
        None => Ok(JString::default()),
        Some(v) => {
            let out = serde_json::json!({
                "vr": v.vr.to_string(),
                "parts": v.parts.iter().map(|p| chunks_json(p)).collect::<Vec<_>>(),
            });
            to_jstring(env, &out)
        }
    }
}

/// Opens a stored instance for the header walks of [`frames`](dicom_fhir_core::frames)
/// and [`locate`](dicom_fhir_core::locate): they read element headers and seek over
/// values, so a frame of a 200 MB file costs a few small reads, not the file.
fn open_file(env: &Env<'_>, path: &JString<'_>) -> Res<BufReader<File>> {
    let path = required_string(env, path, "path")?;
    let file = File::open(&path).map_err(|e| Failure::Io(format!("cannot open {path}: {e}")))?;
    Ok(BufReader::with_capacity(16 * 1024, file))
}

/// Runs `f` over the bytes of a Java byte[] without copying them (a critical region: `f` must
/// not call back into the JVM; the core only walks headers here, never the pixel values).
fn with_critical_bytes<T>(
    env: &Env<'_>,
    data: &JByteArray<'_>,
    f: impl FnOnce(&[u8]) -> Res<T>,
) -> Res<T> {
    if data.is_null() {
        return Err(Failure::NullArgument("data"));
    }
    // SAFETY: read-only access with NoCopyBack; no JNI call happens while `elements` lives.
    let elements = unsafe { data.get_elements_critical(env, jni::objects::ReleaseMode::NoCopyBack)? };
    let bytes = unsafe { std::slice::from_raw_parts(elements.as_ptr() as *const u8, elements.len()) };
    let out = f(bytes);
    drop(elements);
    out
}

/// The cap on the inflated size of a deflated data set passed from Java (bytes; at least 0).
fn max_inflated(value: jlong) -> u64 {
    value.max(0) as u64
}

native! {
    /// `static native String frames(byte[] data, String frameList, long maxInflatedBytes)`:
    /// `{"transferSyntaxUid":..,"numberOfFrames":n,"encapsulated":b,"frames":[[chunk..]|null,..]}`,
    /// one entry per requested frame (null: no such frame). A malformed list is a DicomException
    /// (INVALID_INPUT), an unreadable instance one of kind CORRUPT_STORED; a deflated data set
    /// inflating beyond `maxInflatedBytes` a DicomLimitException.
    fn Java_org_dicomfhir_bridge_DicomNative_frames(env, data: JByteArray<'l>, frame_list: JString<'l>, max: jlong) -> JString<'l> {
        frames_answer(env, Stored::Bytes(&data), &frame_list, max)
    }
}

native! {
    /// `static native String bulkdata(byte[] data, String tagPath, long maxInflatedBytes)`:
    /// `{"vr":..,"parts":[[chunk..],..]}`, or null when the instance has no such element. A malformed
    /// path is a DicomException; a deflated data set inflating beyond the cap a DicomLimitException.
    fn Java_org_dicomfhir_bridge_DicomNative_bulkdata(env, data: JByteArray<'l>, tag_path: JString<'l>, max: jlong) -> JString<'l> {
        bulk_answer(env, Stored::Bytes(&data), &tag_path, max)
    }
}

native! {
    /// `static native String framesOfFile(String path, String frameList, long maxInflatedBytes)`:
    /// [`frames`] of the instance stored in a file, reading its headers only (chunks are ranges of
    /// the file).
    fn Java_org_dicomfhir_bridge_DicomNative_framesOfFile(env, path: JString<'l>, frame_list: JString<'l>, max: jlong) -> JString<'l> {
        frames_answer(env, Stored::File(&path), &frame_list, max)
    }
}

native! {
    /// `static native String bulkdataOfFile(String path, String tagPath, long maxInflatedBytes)`:
    /// [`bulkdata`] of the instance stored in a file, reading its headers only.
    fn Java_org_dicomfhir_bridge_DicomNative_bulkdataOfFile(env, path: JString<'l>, tag_path: JString<'l>, max: jlong) -> JString<'l> {
        bulk_answer(env, Stored::File(&path), &tag_path, max)
    }
}

// ---------------------------------------------------------------------------------------------
// Facts the core owns: transfer syntaxes, extension URLs, STOW-RS (see dicom_fhir_core)
// ---------------------------------------------------------------------------------------------

native! {
    /// `static native String transferSyntax(String uid)`:
    /// `{"uid","native","servedAs","mediaType"}` of one transfer syntax (WADO-RS negotiation).
    fn Java_org_dicomfhir_bridge_DicomNative_transferSyntax(env, uid: JString<'l>) -> JString<'l> {
        let uid = required_string(env, &uid, "uid")?;
        to_jstring(env, &dicom_fhir_core::transfer_syntax_info(&uid))
    }
}

native! {
    /// `static native String constants()`: the core's constants a binding must not declare again
    /// (`dicom_fhir_core::constants`).
    fn Java_org_dicomfhir_bridge_DicomNative_constants(env) -> JString<'l> {
        to_jstring(env, &dicom_fhir_core::constants())
    }
}

native! {
    /// `static native String stowResponse(String outcomeJson)`: `{"status":..,"body":{DICOM JSON}}`
    /// of a STOW-RS request (`dicom_fhir_core::stow_response_json`).
    fn Java_org_dicomfhir_bridge_DicomNative_stowResponse(
        env,
        outcome: JString<'l>,
    ) -> JString<'l> {
        let outcome = required_json(env, &outcome, "outcome")?;
        let response = dicom_fhir_core::stow_response_json(&outcome)?;
        to_jstring(env, &response)
    }
}

native! {
    /// `static native byte[] render(byte[] data, int frameNumber, String queryJson)`: frame
    /// `frameNumber` (1-based) of a stored instance as an encoded image. `queryJson` holds the
    /// PS3.18 parameters as text (`{"mediaType","window","viewport","quality"}`, each optional; see
    /// `dicom_fhir_core::RenderQuery`). A bad parameter or frame number is a DicomException of kind
    /// INVALID_INPUT, an image the core cannot decode (or a media type it does not produce) one of
    /// kind UNSUPPORTED. The bytes are copied (not pinned): decoding can take long.
    fn Java_org_dicomfhir_bridge_DicomNative_render(
        env,
        data: JByteArray<'l>,
        frame_number: jint,
        query_json: JString<'l>,
    ) -> JByteArray<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let query: RenderQuery = optional_json(env, &query_json, "queryJson")?;
        let options = dicom_fhir_core::RenderOptions::from_query(&query)?;
        let frame = u32::try_from(frame_number)
            .map_err(|_| DicomError::invalid_input(format!("frame number {frame_number} is not positive")))?;
        let rendered = dicom_fhir_core::render_frame(&bytes, frame, &options)?;
        drop(bytes);
        Ok(env.byte_array_from_slice(&rendered.bytes)?)
    }
}

native! {
    /// `static native byte[] thumbnail(byte[] data, String mediaType)`: frame 1, longest side
    /// `dicom_fhir_core::THUMBNAIL_SIZE` pixels, the instance's default window, no annotation.
    fn Java_org_dicomfhir_bridge_DicomNative_thumbnail(
        env,
        data: JByteArray<'l>,
        media_type: JString<'l>,
    ) -> JByteArray<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let query = RenderQuery { media_type: optional_string(env, &media_type)?, ..Default::default() };
        let media_type = dicom_fhir_core::RenderOptions::from_query(&query)?.media_type;
        let rendered = dicom_fhir_core::thumbnail(&bytes, media_type)?;
        drop(bytes);
        Ok(env.byte_array_from_slice(&rendered.bytes)?)
    }
}

native! {
    /// `static native byte[] transcode(byte[] data, long maxDecodedBytes)`: the stored instance in
    /// Explicit VR Little Endian with its pixel data decoded (`dicom_fhir_core::to_explicit_le`).
    /// Pixel data that cannot be decoded is a DicomException of kind UNSUPPORTED; a decoded size
    /// (or an inflated data set) beyond `maxDecodedBytes` a DicomLimitException, raised before
    /// decoding. The bytes are copied (not pinned): decoding can take long.
    fn Java_org_dicomfhir_bridge_DicomNative_transcode(
        env,
        data: JByteArray<'l>,
        max_decoded_bytes: jlong,
    ) -> JByteArray<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let out = dicom_fhir_core::to_explicit_le(&bytes, max_inflated(max_decoded_bytes))?;
        drop(bytes);
        Ok(env.byte_array_from_slice(&out)?)
    }
}

native! {
    /// `static native byte[] transcodeFrames(byte[] data, String frameList, long maxDecodedBytes)`:
    /// the listed frames (1-based, each once) decoded, one after the other; every decoded frame has
    /// the same length, so frame i is bytes [i·len/n, (i+1)·len/n). Errors as `transcode`; a frame
    /// that does not exist is INVALID_INPUT.
    fn Java_org_dicomfhir_bridge_DicomNative_transcodeFrames(
        env,
        data: JByteArray<'l>,
        frame_list: JString<'l>,
        max_decoded_bytes: jlong,
    ) -> JByteArray<'l> {
        let bytes = copied_bytes(env, &data, "data")?;
        let list = required_string(env, &frame_list, "frameList")?;
        let numbers = dicom_fhir_core::parse_frame_list(&list)?;
        let frames = dicom_fhir_core::frames_explicit_le(&bytes, &numbers, max_inflated(max_decoded_bytes))?;
        drop(bytes);
        Ok(env.byte_array_from_slice(&frames.concat())?)
    }
}

native! {
    /// `static native void transcodeCheck(byte[] data, long maxDecodedBytes)`: throws what
    /// `transcode` would throw without decoding (`dicom_fhir_core::check_transcodable`): a header
    /// read, to refuse a multi-instance answer before its first byte.
    fn Java_org_dicomfhir_bridge_DicomNative_transcodeCheck(
        env,
        data: JByteArray<'l>,
        max_decoded_bytes: jlong,
    ) {
        // copied, not pinned: dicom-object reads the whole data set
        let bytes = copied_bytes(env, &data, "data")?;
        Ok(dicom_fhir_core::check_transcodable(&bytes, max_inflated(max_decoded_bytes))?)
    }
}
