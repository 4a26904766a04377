package org.dicomfhir.bridge;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * One parsed DICOM Part-10 instance: the {@code parse} result of the native contract.
 *
 * @param sha256                  lowercase hex SHA-256 of the exact bytes (the Binary id)
 * @param size                    number of bytes
 * @param patientIdentifierSystem {@code null} when the instance has no PatientID
 * @param patientIdentifierValue  {@code null} when the instance has no PatientID
 * @param warnings                non-fatal problems found (never null)
 * @param imagingStudyJson        FHIR R4 ImagingStudy JSON holding only this instance (the fragment
 *                                for {@link DicomStudies#merge})
 * @param patientJson             FHIR R4 Patient JSON ({@code null} if the core sent none)
 */
public record DicomInstance(
        String sha256,
        long size,
        String studyInstanceUid,
        String seriesInstanceUid,
        String sopInstanceUid,
        String sopClassUid,
        String transferSyntaxUid,
        String patientIdentifierSystem,
        String patientIdentifierValue,
        List<String> warnings,
        String imagingStudyJson,
        String patientJson,
        QidoIndex qidoIndex) {

    /**
     * The instance's values of the QIDO index's tags (when parsed with
     * {@link DeriveOptions#withQidoIndexedTags}): the id of the tag set and (tag, normalised value) pairs.
     */
    public record QidoIndex(String set, List<String[]> values) {}

    public DicomInstance {
        warnings = warnings == null ? List.of() : List.copyOf(warnings);
    }

    /**
     * Parses a DICOM file held in a byte array.
     *
     * @throws DicomException when the bytes are not a valid instance (message says why)
     */
    public static DicomInstance parse(byte[] data, DeriveOptions options) {
        Objects.requireNonNull(data, "data");
        // byte[] path for every size: the native side copies once (GetByteArrayRegion), which
        // measured faster than staging the array in a direct buffer from Java and, unlike a JNI
        // critical section, never blocks the GC while untrusted input is parsed.
        return fromJson(DicomNative.parse(data, optionsJson(options)));
    }

    /**
     * Parses the remaining bytes of a buffer (position to limit). A direct buffer (e.g. a
     * {@code MappedByteBuffer} of a spooled upload) is read in place, zero-copy; a heap buffer
     * goes through the byte[] path. The buffer's position is not changed.
     */
    public static DicomInstance parse(ByteBuffer data, DeriveOptions options) {
        Objects.requireNonNull(data, "data");
        if (data.isDirect()) {
            return fromJson(DicomNative.parseDirect(data.slice(), optionsJson(options)));
        }
        byte[] bytes;
        if (data.hasArray() && data.arrayOffset() == 0 && data.position() == 0
                && data.remaining() == data.array().length) {
            bytes = data.array();
        } else {
            bytes = new byte[data.remaining()];
            data.duplicate().get(bytes);
        }
        return parse(bytes, options);
    }

    /** Builds the record from the JSON returned by {@link DicomNative#parse}. */
    public static DicomInstance fromJson(String json) {
        JsonNode n = Json.read(json);
        JsonNode pid = n.path("patientIdentifier");
        List<String> warnings = new ArrayList<>();
        for (JsonNode w : n.path("warnings")) {
            warnings.add(w.asText());
        }
        return new DicomInstance(
                text(n, "sha256"),
                n.path("size").asLong(-1),
                text(n, "studyInstanceUid"),
                text(n, "seriesInstanceUid"),
                text(n, "sopInstanceUid"),
                text(n, "sopClassUid"),
                text(n, "transferSyntaxUid"),
                text(pid, "system"),
                text(pid, "value"),
                Collections.unmodifiableList(warnings),
                object(n, "imagingStudy"),
                object(n, "patient"),
                qidoIndex(n.get("qidoIndex")));
    }

    private static QidoIndex qidoIndex(JsonNode n) {
        if (n == null || !n.isObject()) {
            return null;
        }
        List<String[]> values = new ArrayList<>();
        for (JsonNode pair : n.path("values")) {
            values.add(new String[] {pair.path(0).asText(), pair.path(1).asText()});
        }
        return new QidoIndex(n.path("set").asText(), Collections.unmodifiableList(values));
    }

    private static String optionsJson(DeriveOptions options) {
        return options == null ? null : options.toJson();
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static String object(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : Json.write(v);
    }
}
