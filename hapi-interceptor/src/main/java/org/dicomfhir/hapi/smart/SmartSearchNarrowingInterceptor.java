package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizedList;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletRequest;

/**
 * Narrows the searches of a patient-context token (only {@code patient/} scopes) to its patient's
 * compartment: FHIR searches, and QIDO through the DICOMweb facade's firing of
 * SERVER_INCOMING_REQUEST_POST_PROCESSED. A search naming another patient is refused (403), not
 * answered with an empty Bundle. Tokens with {@code user/} or {@code system/} scopes are not
 * narrowed (their type-level rules apply).
 */
public class SmartSearchNarrowingInterceptor extends SearchNarrowingInterceptor {

	private final PatientContext myPatients;

	public SmartSearchNarrowingInterceptor(PatientContext thePatients) {
		myPatients = thePatients;
	}

	@Override
	protected AuthorizedList buildAuthorizedList(RequestDetails theRequest) {
		HttpServletRequest servlet = theRequest instanceof ServletRequestDetails s ? s.getServletRequest() : null;
		SmartToken token = SmartToken.of(servlet);
		if (token == null || !token.hasPatientScope()
				|| token.grants().stream().anyMatch(g -> g.level() != SmartScopes.Level.PATIENT)) {
			return null;
		}
		String patient = myPatients.patientId(token, servlet);
		// no resolvable patient: nothing to narrow to; the authorization rules allow nothing then
		return patient == null ? null : new AuthorizedList().addCompartment("Patient/" + patient);
	}
}
