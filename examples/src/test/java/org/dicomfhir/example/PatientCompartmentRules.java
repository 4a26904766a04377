package org.dicomfhir.example;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizedList;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import org.hl7.fhir.r4.model.IdType;

import java.util.List;

/**
 * The authorization the facade tests give a caller limited to one patient, as a SMART
 * `patient/*.read` launch does: with any bearer token, read that patient's compartment and any
 * Binary (a Binary has no compartment: the plugin checks the study that owns it), nothing else.
 * A request without a token is the test's own (storing, checking) and may do anything.
 */
final class PatientCompartmentRules {

	private PatientCompartmentRules() {}

	/** Any token reads the patient's compartment only. */
	static AuthorizationInterceptor readerOf(IdType thePatient) {
		return new AuthorizationInterceptor() {
			@Override
			public List<IAuthRule> buildRuleList(RequestDetails theRequest) {
				String token = theRequest instanceof SystemRequestDetails ? null : theRequest.getHeader("Authorization");
				if (token == null) {
					return new RuleBuilder().allowAll("no token: not part of this test").build();
				}
				return new RuleBuilder()
						.allow("reads the patient").read().allResources().inCompartment("Patient", thePatient).andThen()
						.allow("Binary read").read().resourcesOfType("Binary").withAnyId().andThen()
						.denyAll("everything else")
						.build();
			}
		};
	}

	/** Searches with {@code Authorization: Bearer A} are narrowed to the patient's compartment. */
	static SearchNarrowingInterceptor tokenANarrowedTo(IdType thePatient) {
		return new SearchNarrowingInterceptor() {
			@Override
			protected AuthorizedList buildAuthorizedList(RequestDetails theRequest) {
				return "Bearer A".equals(theRequest.getHeader("Authorization"))
						? new AuthorizedList().addCompartment(thePatient.getValue())
						: null;
			}
		};
	}
}
