package org.dicomfhir.bridge;

/**
 * The core stopped because a limit of this server was reached, not because the input is wrong:
 * e.g. a deflated data set that inflates beyond the cap given to {@link DicomNative#frames(byte[], String, long)}.
 * Its {@link #kind()} is {@link DicomException.Kind#LIMIT_EXCEEDED}.
 * A subclass of {@link DicomException}, so callers that do not tell the two apart still catch it.
 *
 * <p>Thrown by the native code through the {@code (String kind, String message)} constructor,
 * which must stay, as must {@code (String message)}.
 */
public class DicomLimitException extends DicomException {
    private static final long serialVersionUID = 1L;

    public DicomLimitException(String message) {
        super(Kind.LIMIT_EXCEEDED, message);
    }

    /** Used by the native code; the kind is always {@link DicomException.Kind#LIMIT_EXCEEDED}. */
    public DicomLimitException(String kind, String message) {
        super(Kind.LIMIT_EXCEEDED, message);
    }
}
