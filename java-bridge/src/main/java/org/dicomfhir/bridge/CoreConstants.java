package org.dicomfhir.bridge;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The constants the Rust core owns ({@code dicom_fhir_core::constants}), read once through
 * {@link DicomNative#constants()}: Java declares none of them again.
 */
public final class CoreConstants {
    private static final JsonNode CONSTANTS = Json.read(DicomNative.constants());

    /** ImagingStudy instance extension: the Binary holding the instance's bytes. */
    public static final String EXT_INSTANCE_BINARY = text("/extensions/instanceBinary");
    /** ImagingStudy instance extension: rows, columns, bits allocated, number of frames. */
    public static final String EXT_INSTANCE_ATTRIBUTES = text("/extensions/instanceAttributes");
    /** ImagingStudy and series extension: the stored values of that level's QIDO attributes. */
    public static final String EXT_DICOM_ATTRIBUTES = text("/extensions/dicomAttributes");
    /** Sub-extension of {@link #EXT_DICOM_ATTRIBUTES}: every other attribute of the level (its presence: the level's values are complete). */
    public static final String OTHER_ATTRIBUTES = text("/extensions/otherAttributes");

    /** {@code Binary.meta.tag} of every DICOM Binary the plugin stores: system and code. */
    public static final String DICOM_BINARY_TAG_SYSTEM = text("/dicomBinaryTag/system");
    public static final String DICOM_BINARY_TAG_CODE = text("/dicomBinaryTag/code");

    private CoreConstants() {}

    /**
     * The STOW-RS FailureReason (0008,1197) code of a reason the core names
     * ({@code "patientConflict"}, {@code "duplicateDifferent"}, ...).
     *
     * @throws IllegalArgumentException for a name the core does not know
     */
    public static int stowFailureReason(String name) {
        JsonNode n = CONSTANTS.path("stowFailureReasons").path(name);
        if (!n.isInt()) {
            throw new IllegalArgumentException("dicom-fhir: no STOW-RS failure reason named " + name);
        }
        return n.asInt();
    }

    /** The whole constants JSON. */
    static JsonNode get() {
        return CONSTANTS;
    }

    static String text(String pointer) {
        JsonNode n = CONSTANTS.at(pointer);
        if (!n.isTextual()) {
            throw new IllegalStateException("dicom-fhir: the native library has no constant " + pointer);
        }
        return n.asText();
    }
}
