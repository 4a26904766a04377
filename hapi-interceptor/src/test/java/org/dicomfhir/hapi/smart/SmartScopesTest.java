package org.dicomfhir.hapi.smart;

import org.dicomfhir.hapi.smart.SmartScopes.Grant;
import org.dicomfhir.hapi.smart.SmartScopes.Level;
import org.dicomfhir.hapi.smart.SmartScopes.Permission;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SmartScopesTest {

	@Test
	void v2LettersInOrder() {
		assertThat(SmartScopes.parseOne("patient/ImagingStudy.rs"))
				.isEqualTo(new Grant(Level.PATIENT, "ImagingStudy", EnumSet.of(Permission.READ, Permission.SEARCH)));
		assertThat(SmartScopes.parseOne("system/*.cruds"))
				.isEqualTo(new Grant(Level.SYSTEM, "*", EnumSet.allOf(Permission.class)));
		assertThat(SmartScopes.parseOne("user/Binary.cud").permissions())
				.containsExactlyInAnyOrder(Permission.CREATE, Permission.UPDATE, Permission.DELETE);
		assertThat(SmartScopes.parseOne("system/Patient.d").permissions()).containsExactly(Permission.DELETE);
	}

	@Test
	void v1Forms() {
		assertThat(SmartScopes.parseOne("patient/*.read").permissions()).containsExactlyInAnyOrder(Permission.READ, Permission.SEARCH);
		assertThat(SmartScopes.parseOne("user/ImagingStudy.write").permissions())
				.containsExactlyInAnyOrder(Permission.CREATE, Permission.UPDATE, Permission.DELETE);
		assertThat(SmartScopes.parseOne("system/Patient.*").permissions()).isEqualTo(EnumSet.allOf(Permission.class));
	}

	@Test
	void garbageGrantsNothing() {
		for (String scope : List.of("openid", "fhirUser", "launch/patient", "offline_access", "patient/ImagingStudy.dr",
				"patient/ImagingStudy.rr", "patient/ImagingStudy.", "patient/ImagingStudy", "admin/*.cruds", "patient/imagingStudy.rs",
				"patient/ImagingStudy.rs?patient=1", "system/Observation.rs?category=laboratory", "patient/ImagingStudy.rsx",
				"system/*.readwrite", "system/../Patient.rs", "patient/ImagingStudy.RS", " ", "system/*.*x", "patient/*")) {
			assertThat(SmartScopes.parseOne(scope)).as(scope).isNull();
		}
	}

	@Test
	void aClaimKeepsTheClinicalScopesOnly() {
		List<Grant> grants = SmartScopes.parse("openid  launch/patient\tpatient/ImagingStudy.rs patient/Patient.read bogus/x.r");
		assertThat(grants).extracting(Grant::resourceType).containsExactly("ImagingStudy", "Patient");
		assertThat(SmartScopes.parse(null)).isEmpty();
		assertThat(SmartScopes.parse("")).isEmpty();
	}
}
