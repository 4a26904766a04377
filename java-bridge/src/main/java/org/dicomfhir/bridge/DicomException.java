package org.dicomfhir.bridge;

/**
 * The Rust core refused an operation. {@link #kind()} says whose fault it is: the caller's
 * ({@link Kind#INVALID_INPUT}: not DICOM, no or garbled file meta, truncated, a missing or
 * malformed Study/Series/SOP Instance/SOP Class UID, a malformed query, frame list or tag path),
 * a limit of the server ({@link Kind#LIMIT_EXCEEDED}, thrown as {@link DicomLimitException}),
 * valid DICOM the core does not handle ({@link Kind#UNSUPPORTED}), or the server's own
 * ({@link Kind#CORRUPT_STORED}: an instance or ImagingStudy this server stored cannot be read;
 * {@link Kind#INTERNAL}: a bug). The message says what is wrong.
 *
 * <p>Thrown by the native code through the {@code (String kind, String message)} constructor,
 * which must stay, as must {@code (String message)}.
 */
public class DicomException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The core's {@code ErrorKind}, one to one (same names). */
    public enum Kind {
        /** What the caller sent is wrong (HTTP 4xx). */
        INVALID_INPUT,
        /** A limit of this server was reached; the input may be fine. */
        LIMIT_EXCEEDED,
        /** Valid DICOM the core does not handle, e.g. an unknown transfer syntax. */
        UNSUPPORTED,
        /** Data this server stored earlier cannot be read (HTTP 5xx). */
        CORRUPT_STORED,
        /** A bug in the core (HTTP 5xx). */
        INTERNAL;

        /** True when the fault is the server's (stored data, a bug), not the caller's. */
        public boolean isServerFault() {
            return this == CORRUPT_STORED || this == INTERNAL;
        }

        static Kind of(String theName) {
            for (Kind k : values()) {
                if (k.name().equals(theName)) {
                    return k;
                }
            }
            return INTERNAL; // a kind this Java side does not know yet: not the caller's fault
        }
    }

    private final Kind myKind;

    /** An {@link Kind#INVALID_INPUT} error. */
    public DicomException(String message) {
        this(Kind.INVALID_INPUT, message);
    }

    /** Used by the native code: {@code kind} is the name of a {@link Kind}. */
    public DicomException(String kind, String message) {
        this(Kind.of(kind), message);
    }

    public DicomException(Kind kind, String message) {
        super(message);
        myKind = kind;
    }

    /** Whose fault it is; never null. */
    public Kind kind() {
        return myKind;
    }
}
