package org.dicomfhir.bridge;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Options that change FHIR derivation (not parsing). Both are optional.
 *
 * @param patientIdentifierSystem identifier system for PatientID when IssuerOfPatientID is absent
 *                                (e.g. {@code "urn:dicom:patient-id"})
 * @param defaultTimezone         UTC offset such as {@code "+01:00"} for DICOM dates/times without
 *                                TimezoneOffsetFromUTC; {@code null}: FHIR dateTimes carry the date only
 */
public record DeriveOptions(String patientIdentifierSystem, String defaultTimezone, List<String> qidoIndexedTags) {
    /** No options: the core's defaults. */
    public static final DeriveOptions DEFAULTS = new DeriveOptions(null, null, null);

    public DeriveOptions(String patientIdentifierSystem, String defaultTimezone) {
        this(patientIdentifierSystem, defaultTimezone, null);
    }

    public DeriveOptions withPatientIdentifierSystem(String system) {
        return new DeriveOptions(system, defaultTimezone, qidoIndexedTags);
    }

    public DeriveOptions withDefaultTimezone(String timezone) {
        return new DeriveOptions(patientIdentifierSystem, timezone, qidoIndexedTags);
    }

    /**
     * With the QIDO index: the parse result then has the instance's values of the core's default
     * indexed tags plus these (keywords or 8 hex digits; see {@link DicomNative#qidoIndexedTags}).
     */
    public DeriveOptions withQidoIndexedTags(List<String> extraTags) {
        return new DeriveOptions(patientIdentifierSystem, defaultTimezone, extraTags == null ? null : List.copyOf(extraTags));
    }

    /** The {@code optionsJson} of {@link DicomNative#parse}; {@code null} when all fields are null. */
    public String toJson() {
        if (patientIdentifierSystem == null && defaultTimezone == null && qidoIndexedTags == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        if (patientIdentifierSystem != null) m.put("patientIdentifierSystem", patientIdentifierSystem);
        if (defaultTimezone != null) m.put("defaultTimezone", defaultTimezone);
        if (qidoIndexedTags != null) m.put("qidoIndexedTags", qidoIndexedTags);
        return Json.write(m);
    }
}
