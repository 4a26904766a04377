package org.dicomfhir.hapi.smart;

import java.util.Optional;

/**
 * The FHIR Patient id of the one Patient carrying exactly this identifier (system and value are
 * data, never search syntax); empty when there is none or more than one. Implemented by the root
 * wiring with the plugin's exact-identifier lookup.
 */
@FunctionalInterface
public interface PatientResolver {

	Optional<String> patientWithIdentifier(String theSystem, String theValue);
}
