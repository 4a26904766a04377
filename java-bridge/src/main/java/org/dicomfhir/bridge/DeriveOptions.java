package org.dicomfhir.bridge;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Options that change FHIR derivation (not parsing). Both are optional.
 *
 * @param patientIdentifierSystem identifier system for PatientID when IssuerOfPatientID is absent
 *                                (e.g. {@code "urn:dicom:patient-id"})
 * @param defaultTimezone         UTC offset such as {@code "+01:00"} for DICOM dates/times without
 *                                TimezoneOffsetFromUTC; {@code null}: FHIR dateTimes carry the date only
 */
public record DeriveOptions(String patientIdentifierSystem, String defaultTimezone) {
    /** No options: the core's defaults. */
    public static final DeriveOptions DEFAULTS = new DeriveOptions(null, null);

    public DeriveOptions withPatientIdentifierSystem(String system) {
        return new DeriveOptions(system, defaultTimezone);
    }

    public DeriveOptions withDefaultTimezone(String timezone) {
        return new DeriveOptions(patientIdentifierSystem, timezone);
    }

    /** The {@code optionsJson} of {@link DicomNative#parse}; {@code null} when all fields are null. */
    public String toJson() {
        if (patientIdentifierSystem == null && defaultTimezone == null) {
            return null;
        }
        Map<String, String> m = new LinkedHashMap<>();
        if (patientIdentifierSystem != null) m.put("patientIdentifierSystem", patientIdentifierSystem);
        if (defaultTimezone != null) m.put("defaultTimezone", defaultTimezone);
        return Json.write(m);
    }
}
