package org.dicomfhir.hapi.smart;

import jakarta.servlet.http.HttpServletRequest;

import java.util.List;

/**
 * A validated bearer token, as the rest of the request sees it. Kept as an attribute of the
 * servlet request, so every RequestDetails built for it (HAPI's, and the DICOMweb facade's own)
 * finds the same token.
 *
 * @param patientId         the {@code patient} claim (a FHIR Patient id), or null
 * @param patientIdentifier the {@code patient_identifier} claim ({@code system|value}), or null
 */
public record SmartToken(String subject, String clientId, List<SmartScopes.Grant> grants, String patientId,
		String patientIdentifier) {

	static final String ATTRIBUTE = SmartToken.class.getName();

	/** The token validated for this servlet request, or null (none was needed, or none was sent). */
	public static SmartToken of(HttpServletRequest theRequest) {
		Object token = theRequest == null ? null : theRequest.getAttribute(ATTRIBUTE);
		return token instanceof SmartToken t ? t : null;
	}

	boolean hasPatientScope() {
		return grants.stream().anyMatch(g -> g.level() == SmartScopes.Level.PATIENT);
	}
}
