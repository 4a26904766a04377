package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.model.api.ResourceMetadataKeyEnum;
import ca.uhn.fhir.model.valueset.BundleEntrySearchModeEnum;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleTester.RuleTestRequest;
import ca.uhn.fhir.rest.server.interceptor.auth.PolicyEnum;
import org.dicomfhir.hapi.smart.SmartAuthorizationInterceptor.BatchSearchResult;
import org.dicomfhir.hapi.smart.SmartAuthorizationInterceptor.LetterTester;
import org.dicomfhir.hapi.smart.SmartScopes.Permission;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;

import static org.assertj.core.api.Assertions.assertThat;

/** SMART App Launch 2.x: r = read, vread, instance history; s = search, type/system history. */
class LetterTesterTest {

	private static final LetterTester R = new LetterTester(EnumSet.of(Permission.READ));
	private static final LetterTester S = new LetterTester(EnumSet.of(Permission.SEARCH));
	private static final LetterTester RS = new LetterTester(EnumSet.of(Permission.READ, Permission.SEARCH));

	@Test
	void rReadsByIdAndSSearches() {
		for (RestOperationTypeEnum op : new RestOperationTypeEnum[] {RestOperationTypeEnum.READ, RestOperationTypeEnum.VREAD,
				RestOperationTypeEnum.HISTORY_INSTANCE}) {
			assertThat(R.matches(request(op, null))).as(op.name()).isTrue();
			assertThat(RS.matches(request(op, null))).as(op.name()).isTrue();
			assertThat(S.matches(request(op, null))).as(op.name()).isFalse();
			assertThat(R.matchesOutput(request(op, new ImagingStudy()))).as(op.name()).isTrue();
			assertThat(S.matchesOutput(request(op, new ImagingStudy()))).as(op.name()).isFalse();
		}
		for (RestOperationTypeEnum op : new RestOperationTypeEnum[] {RestOperationTypeEnum.SEARCH_TYPE, RestOperationTypeEnum.SEARCH_SYSTEM,
				RestOperationTypeEnum.HISTORY_TYPE, RestOperationTypeEnum.HISTORY_SYSTEM, RestOperationTypeEnum.GET_PAGE}) {
			assertThat(S.matches(request(op, null))).as(op.name()).isTrue();
			assertThat(RS.matches(request(op, null))).as(op.name()).isTrue();
			assertThat(R.matches(request(op, null))).as(op.name()).isFalse();
			assertThat(S.matchesOutput(request(op, new ImagingStudy()))).as(op.name()).isTrue();
			assertThat(R.matchesOutput(request(op, new ImagingStudy()))).as(op.name()).isFalse();
		}
	}

	@Test
	void anIncludedResourceNeedsEitherLetter() {
		Patient included = new Patient();
		ResourceMetadataKeyEnum.ENTRY_SEARCH_MODE.put(included, BundleEntrySearchModeEnum.INCLUDE);
		assertThat(R.matchesOutput(request(RestOperationTypeEnum.SEARCH_TYPE, included))).isTrue();
		assertThat(S.matchesOutput(request(RestOperationTypeEnum.SEARCH_TYPE, included))).isTrue();
		Patient match = new Patient();
		ResourceMetadataKeyEnum.ENTRY_SEARCH_MODE.put(match, BundleEntrySearchModeEnum.MATCH);
		assertThat(R.matchesOutput(request(RestOperationTypeEnum.SEARCH_TYPE, match))).isFalse();
	}

	@Test
	void whatABatchResponseShowsNeedsR() {
		for (RestOperationTypeEnum op : new RestOperationTypeEnum[] {RestOperationTypeEnum.TRANSACTION, RestOperationTypeEnum.BATCH}) {
			assertThat(R.matchesOutput(request(op, new ImagingStudy()))).isTrue();
			assertThat(S.matchesOutput(request(op, new ImagingStudy()))).isFalse();
		}
	}

	@Test
	void onlyASearchsetInsideABatchResponseIsAllowedAsABundle() {
		BatchSearchResult tester = new BatchSearchResult();
		Bundle searchset = new Bundle().setType(Bundle.BundleType.SEARCHSET);
		assertThat(tester.matchesOutput(request(RestOperationTypeEnum.BATCH, searchset))).isTrue();
		assertThat(tester.matchesOutput(request(RestOperationTypeEnum.TRANSACTION, searchset))).isTrue();
		// a stored Bundle read by id, or searched, or a document inside a batch: not by this rule
		assertThat(tester.matchesOutput(request(RestOperationTypeEnum.READ, searchset))).isFalse();
		assertThat(tester.matchesOutput(request(RestOperationTypeEnum.SEARCH_TYPE, searchset))).isFalse();
		assertThat(tester.matchesOutput(request(RestOperationTypeEnum.BATCH, new Bundle().setType(Bundle.BundleType.DOCUMENT))))
				.isFalse();
		assertThat(tester.matches(request(RestOperationTypeEnum.BATCH, null))).isFalse();
	}

	private static RuleTestRequest request(RestOperationTypeEnum theOperation, IBaseResource theResource) {
		return new RuleTestRequest(PolicyEnum.ALLOW, theOperation, new SystemRequestDetails(), null, theResource,
				new AuthorizationInterceptor());
	}
}
