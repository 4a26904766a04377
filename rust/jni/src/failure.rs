//! What a native method can fail with, and how each failure (or a panic) becomes the Java
//! exception of the contract in `lib.rs`: the `ErrorPolicy` every native method resolves with,
//! and the one-line panic hook installed at library load.

use std::any::Any;
use std::fmt;
use std::sync::Once;

use dicom_fhir_core::{DicomError, ErrorKind};
use jni::errors::ErrorPolicy;
use jni::objects::{JString, JThrowable, JValue};
use jni::strings::{JNIStr, JNIString};
use jni::{jni_sig, jni_str, Env};

/// Prefix of the message of the `IllegalStateException` thrown for a Rust panic.
const PANIC_PREFIX: &str = "dicom-fhir native panic: ";

// ---------------------------------------------------------------------------------------------
// Errors and the policy that maps them to Java exceptions
// ---------------------------------------------------------------------------------------------

/// Everything a native method can fail with.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The core rejected the input (thrown as `DicomException`).
    Dicom(DicomError),
    /// The caller passed something unusable, e.g. malformed JSON (`IllegalArgumentException`).
    IllegalArgument(String),
    /// A required argument was null (`NullPointerException`).
    NullArgument(&'static str),
    /// A file the caller named cannot be opened (`java.io.IOException`).
    Io(String),
    /// A JNI call failed; `Error::JavaException` means a Java exception is already pending.
    Jni(jni::errors::Error),
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

impl From<DicomError> for Failure {
    fn from(e: DicomError) -> Self {
        Failure::Dicom(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Dicom(e) => write!(f, "{e}"),
            Failure::IllegalArgument(m) => f.write_str(m),
            Failure::NullArgument(name) => write!(f, "{name} must not be null"),
            Failure::Io(m) => f.write_str(m),
            Failure::Jni(e) => write!(f, "JNI error: {e}"),
        }
    }
}

pub(crate) type Res<T> = Result<T, Failure>;

/// Text of a panic payload: `panic!("literal")` carries a `&'static str`, `panic!("{x}")` and
/// most std panics (index out of bounds, unwrap on Err, ...) carry a `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Throws `class_name(msg)`. `throw_new` reports success as `Err(JavaException)`, which is
/// exactly the state we want to leave behind, so that result is dropped.
fn throw(env: &mut Env<'_>, class_name: &JNIStr, msg: &str) -> jni::errors::Result<()> {
    // Env::find_class is the raw JNI FindClass: inside a native method it resolves through the
    // class loader of DicomNative, so DicomException is the very class the Java caller sees
    // (not a copy from the thread's context class loader).
    let class = env.find_class(class_name)?;
    match env.throw_new(&class, JNIString::new(msg)) {
        Ok(()) | Err(jni::errors::Error::JavaException) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Throws the Java exception of a core error: `DicomLimitException` for a limit, else
/// `DicomException`, built with their `(String kind, String message)` constructor.
fn throw_dicom(env: &mut Env<'_>, e: &DicomError) -> jni::errors::Result<()> {
    let class_name = match e.kind() {
        ErrorKind::LimitExceeded => jni_str!("org/dicomfhir/bridge/DicomLimitException"),
        _ => jni_str!("org/dicomfhir/bridge/DicomException"),
    };
    let class = env.find_class(class_name)?;
    let kind = JString::from_str(env, e.kind().as_str())?;
    let message = JString::from_str(env, e.message())?;
    let obj = env.new_object(
        &class,
        jni_sig!("(Ljava/lang/String;Ljava/lang/String;)V"),
        &[JValue::from(&kind), JValue::from(&message)],
    )?;
    let throwable = env.cast_local::<JThrowable>(obj)?;
    match env.throw(&throwable) {
        Ok(()) | Err(jni::errors::Error::JavaException) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Our `ErrorPolicy`: typed exceptions for errors, `IllegalStateException` for panics.
pub(crate) struct ThrowJava;

impl<T: Default> ErrorPolicy<T, Failure> for ThrowJava {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: Failure,
    ) -> jni::errors::Result<T> {
        if env.exception_check() {
            // A Java exception is already pending (a JNI call threw): let it propagate.
            return Ok(T::default());
        }
        let (class, msg) = match &err {
            Failure::Dicom(e) => {
                throw_dicom(env, e)?;
                return Ok(T::default());
            }
            Failure::IllegalArgument(m) => {
                (jni_str!("java/lang/IllegalArgumentException"), m.clone())
            }
            Failure::NullArgument(_) => {
                (jni_str!("java/lang/NullPointerException"), err.to_string())
            }
            Failure::Io(m) => (jni_str!("java/io/IOException"), m.clone()),
            Failure::Jni(_) => (
                jni_str!("java/lang/IllegalStateException"),
                format!("dicom-fhir native: {err}"),
            ),
        };
        throw(env, class, &msg)?;
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        payload: Box<dyn Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let msg = format!("{PANIC_PREFIX}{}", panic_message(payload.as_ref()));
        // Dropping a payload can itself panic (a Drop impl): then leak what is left.
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
            std::mem::forget(p);
        }
        if env.exception_check() {
            // Replace whatever was pending: the panic is the more important news.
            env.exception_clear();
        }
        throw(env, jni_str!("java/lang/IllegalStateException"), &msg)?;
        Ok(T::default())
    }
}

// ---------------------------------------------------------------------------------------------
// The panic hook installed at library load (JNI_OnLoad in lib.rs)
// ---------------------------------------------------------------------------------------------

static PANIC_HOOK: Once = Once::new();

/// Replaces the default hook (multi-line message, optional backtrace) with one stderr line.
/// The hook is per copy of `std`, i.e. it only affects panics inside this library.
pub(crate) fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = panic_message(info.payload()).replace('\n', " ");
            eprintln!("[dicom-fhir native] panic{location}: {msg} (rethrown to Java as IllegalStateException)");
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        let s: Box<dyn Any + Send> = Box::new("static str");
        assert_eq!(panic_message(s.as_ref()), "static str");
        let s: Box<dyn Any + Send> = Box::new(String::from("formatted 42"));
        assert_eq!(panic_message(s.as_ref()), "formatted 42");
        let s: Box<dyn Any + Send> = Box::new(42_u32);
        assert_eq!(panic_message(s.as_ref()), "non-string panic payload");
    }

    #[test]
    fn panic_message_from_real_panics() {
        let p = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "literal");
        let v: Vec<u8> = Vec::new();
        let i = v.len() + 3;
        let p = std::panic::catch_unwind(|| v[i]).unwrap_err();
        assert!(panic_message(p.as_ref()).contains("index out of bounds"));
    }
}
