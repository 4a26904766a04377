package org.dicomfhir.bridge;

import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** ImagingStudy maintenance done by the Rust core (JSON in, JSON out). */
public final class DicomStudies {
    private DicomStudies() {}

    /**
     * Merges ImagingStudy fragments ({@link DicomInstance#imagingStudyJson()}) into an existing
     * ImagingStudy, or into a new one when {@code existingOrNull} is null. Idempotent; keeps every
     * field the core does not own.
     *
     * @return the merged ImagingStudy JSON
     */
    public static String merge(String existingOrNull, List<String> fragments) {
        Objects.requireNonNull(fragments, "fragments");
        return DicomNative.mergeStudy(existingOrNull, fragments.toArray(new String[0]));
    }

    /**
     * Removes instances (and series left empty) by SOP Instance UID and recomputes the counts.
     *
     * @return the remaining study, or empty when no instance is left
     */
    public static Optional<String> removeInstances(String study, Collection<String> sopUids) {
        Objects.requireNonNull(study, "study");
        Objects.requireNonNull(sopUids, "sopUids");
        return Optional.ofNullable(DicomNative.removeInstances(study, sopUids.toArray(new String[0])));
    }
}
