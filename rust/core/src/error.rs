//! The one error type of the core: what went wrong ([`ErrorKind`]) and a message for people.
//!
//! The kind is what a caller acts on (a binding picks an exception class, a server an HTTP
//! status); the message is for the person who reads it and is never parsed. The idea (a small,
//! closed set of kinds that say how to react, not where the error came from) is Apache OpenDAL's.

use std::fmt;

/// What went wrong, from the caller's point of view. One binding exception per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// What the caller sent is wrong: bytes to ingest that are not a valid instance, a malformed
    /// QIDO query, frame list or tag path, fragments that do not merge. The caller can fix it
    /// (HTTP 4xx).
    InvalidInput,
    /// A limit of this server was reached, e.g. a deflated data set inflating beyond the cap. The
    /// input may be fine.
    LimitExceeded,
    /// Valid DICOM that this core does not handle, e.g. an unknown transfer syntax.
    Unsupported,
    /// Data this server stored earlier (an instance read for WADO-RS, an existing ImagingStudy)
    /// cannot be read: the fault is the server's, not the current caller's (HTTP 5xx).
    CorruptStored,
    /// A bug: an invariant of the core does not hold (HTTP 5xx).
    Internal,
}

impl ErrorKind {
    /// All kinds, in declaration order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::InvalidInput,
        ErrorKind::LimitExceeded,
        ErrorKind::Unsupported,
        ErrorKind::CorruptStored,
        ErrorKind::Internal,
    ];

    /// The stable name bindings carry across (`INVALID_INPUT`, ...; Java's `DicomException.Kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "INVALID_INPUT",
            ErrorKind::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorKind::Unsupported => "UNSUPPORTED",
            ErrorKind::CorruptStored => "CORRUPT_STORED",
            ErrorKind::Internal => "INTERNAL",
        }
    }

    /// True when the fault is the server's (stored data, a bug), not the caller's.
    pub fn is_server_fault(self) -> bool {
        matches!(self, ErrorKind::CorruptStored | ErrorKind::Internal)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation failed: a [`ErrorKind`] and a message meant for the uploader or operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomError {
    kind: ErrorKind,
    message: String,
}

impl DicomError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DicomError { kind, message: message.into() }
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    pub fn corrupt_stored(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::CorruptStored, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, said of data this server stored: an invalid input read back from storage
    /// is a corrupt stored instance. Other kinds are kept.
    pub(crate) fn stored(self) -> Self {
        match self.kind {
            ErrorKind::InvalidInput => DicomError { kind: ErrorKind::CorruptStored, ..self },
            _ => self,
        }
    }
}

impl fmt::Display for DicomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DicomError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constructor_gives_its_kind_its_name_and_whose_fault_it_is() {
        // (error, kind, the kind's name, a server fault?)
        let cases = [
            (DicomError::invalid_input("m"), ErrorKind::InvalidInput, "INVALID_INPUT", false),
            (DicomError::limit_exceeded("m"), ErrorKind::LimitExceeded, "LIMIT_EXCEEDED", false),
            (DicomError::unsupported("m"), ErrorKind::Unsupported, "UNSUPPORTED", false),
            (DicomError::corrupt_stored("m"), ErrorKind::CorruptStored, "CORRUPT_STORED", true),
            (DicomError::internal("m"), ErrorKind::Internal, "INTERNAL", true),
        ];
        assert_eq!(cases.len(), ErrorKind::ALL.len(), "every kind has a case");
        for (e, kind, name, server_fault) in cases {
            assert_eq!(e.kind(), kind, "{name}");
            assert_eq!(e.kind().as_str(), name);
            assert_eq!(e.kind().is_server_fault(), server_fault, "{name}");
            assert_eq!(e.message(), "m", "{name}");
            assert_eq!(e.to_string(), "m", "{name}");
        }
    }

    #[test]
    fn stored_turns_only_invalid_input_into_corrupt_stored() {
        assert_eq!(DicomError::invalid_input("x").stored().kind(), ErrorKind::CorruptStored);
        assert_eq!(DicomError::invalid_input("x").stored().message(), "x");
        for kind in [ErrorKind::LimitExceeded, ErrorKind::Unsupported, ErrorKind::Internal] {
            assert_eq!(DicomError::new(kind, "x").stored().kind(), kind);
        }
    }

    #[test]
    fn kind_names_are_distinct() {
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
