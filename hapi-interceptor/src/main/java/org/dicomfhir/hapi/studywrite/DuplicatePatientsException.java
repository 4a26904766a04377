package org.dicomfhir.hapi.studywrite;

import java.util.List;

/**
 * A patient identity that more than one FHIR Patient claims. The message names the Patients (for
 * the operator: {@code $dicom-status}, the log); {@link #withoutPatientIds()} is the same refusal
 * for a caller who may not read them.
 */
public class DuplicatePatientsException extends PatientConflictException {

	private static final String WHAT_TO_DO = ". The plugin will not choose between them: merge or correct those Patients, then send the instance again.";

	private final String myIdentity;
	private final List<String> myPatientIds;

	DuplicatePatientsException(String theIdentity, List<String> thePatientIds) {
		super("More than one FHIR Patient has the identifier of " + theIdentity + ": " + String.join(", ", thePatientIds) + WHAT_TO_DO);
		myIdentity = theIdentity;
		myPatientIds = List.copyOf(thePatientIds);
	}

	/** The Patients that claim the identity ({@code Patient/<id>}). */
	public List<String> patientIds() {
		return myPatientIds;
	}

	/** The same refusal naming the identity (the caller's own instance's) but none of the Patients. */
	public PatientConflictException withoutPatientIds() {
		return new PatientConflictException("More than one FHIR Patient has the identifier of " + myIdentity + WHAT_TO_DO);
	}
}
