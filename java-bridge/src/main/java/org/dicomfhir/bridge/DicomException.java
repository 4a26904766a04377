package org.dicomfhir.bridge;

/**
 * The Rust core rejected an input: not DICOM, no or garbled file meta, truncated, or a missing or
 * malformed Study/Series/SOP Instance/SOP Class UID. The message says what is wrong and is meant
 * for the uploader.
 *
 * <p>Thrown by the native code through the {@code (String)} constructor, which must stay.
 */
public class DicomException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DicomException(String message) {
        super(message);
    }
}
