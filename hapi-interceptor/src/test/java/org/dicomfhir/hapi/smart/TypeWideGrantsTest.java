package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * When the access layer may skip reading a study: only for grants that allow the operation on
 * every resource of the type. A wrong "yes" here lets a caller past the study's compartment check.
 */
class TypeWideGrantsTest {

	private static boolean typeWide(RestOperationTypeEnum theOp, String theType, String... theScopes) {
		List<SmartScopes.Grant> grants = Arrays.stream(theScopes).map(SmartScopes::parseOne).toList();
		return SmartAuthorizationInterceptor.grantsEveryResourceOfType(grants, theOp, theType);
	}

	@Test
	void systemAndUserGrantsOfTheTypeOrStarAnswerForEveryResource() {
		assertThat(typeWide(RestOperationTypeEnum.UPDATE, "ImagingStudy", "system/*.cruds")).isTrue();
		assertThat(typeWide(RestOperationTypeEnum.READ, "ImagingStudy", "user/ImagingStudy.rs")).isTrue();
		assertThat(typeWide(RestOperationTypeEnum.CREATE, "Patient", "system/Patient.c", "system/ImagingStudy.cu")).isTrue();
	}

	@Test
	void patientGrantsOtherTypesAndMissingLettersDoNot() {
		assertThat(typeWide(RestOperationTypeEnum.READ, "ImagingStudy", "patient/*.cruds")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.READ, "ImagingStudy", "patient/ImagingStudy.rs", "system/Observation.rs")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.UPDATE, "ImagingStudy", "system/ImagingStudy.rs")).isFalse();
		// r and s are different rights: a read needs r, a search s
		assertThat(typeWide(RestOperationTypeEnum.READ, "ImagingStudy", "system/ImagingStudy.s")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.SEARCH_TYPE, "ImagingStudy", "system/ImagingStudy.r")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.SEARCH_TYPE, "ImagingStudy", "system/ImagingStudy.s")).isTrue();
		assertThat(typeWide(RestOperationTypeEnum.CREATE, "ImagingStudy", "system/ImagingStudy.u")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.DELETE, "ImagingStudy", "system/ImagingStudy.cru")).isFalse();
		assertThat(typeWide(RestOperationTypeEnum.READ, "ImagingStudy")).isFalse();
		// operations the access layer never asks about are never answered for the whole type
		assertThat(typeWide(RestOperationTypeEnum.TRANSACTION, "ImagingStudy", "system/*.cruds")).isFalse();
	}
}
