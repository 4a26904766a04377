package org.dicomfhir.hapi.studywrite;

import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import org.dicomfhir.bridge.CoreConstants;

/**
 * An instance whose patient (PatientID and its issuer) differs from the patient of the study it
 * belongs to, or a patient identity that more than one FHIR Patient claims: refused (409), since
 * filing an image under the wrong patient is the worst failure of an image store. STOW-RS reports
 * it with FailureReason {@link #FAILURE_REASON}.
 */
public class PatientConflictException extends ResourceVersionConflictException {

	/** The core's name of the STOW-RS failure reason of a part refused for its patient. */
	public static final String FAILURE_REASON_NAME = "patientConflict";

	/** FailureReason (0008,1197) of a STOW-RS part refused for its patient (0xC409, "conflicting Patient ID"; the core's code). */
	public static final int FAILURE_REASON = CoreConstants.stowFailureReason(FAILURE_REASON_NAME);

	public PatientConflictException(String theMessage) {
		super(theMessage);
	}
}
