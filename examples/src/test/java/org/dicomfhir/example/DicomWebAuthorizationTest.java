package org.dicomfhir.example;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import com.fasterxml.jackson.databind.JsonNode;
import org.hl7.fhir.r4.model.IdType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The DICOMweb facade under HAPI's own authorization: an {@link AuthorizationInterceptor} that lets
 * the bearer of token "A" read and write patient A's compartment only (plus Binary, which has no
 * compartment), and the usual {@link SearchNarrowingInterceptor} that narrows A's searches to that
 * compartment. QIDO then returns A's studies only; WADO, STOW and DELETE on patient B's study are
 * refused with 403. Requests without a token are not restricted, so the other test classes sharing
 * this server are unaffected; the interceptors are unregistered after this class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebAuthorizationTest extends AbstractServerTest {


	private final String patientIdA = "ZA" + (10 + (int) (Math.random() * 89));
	private final String patientIdB = "ZB" + (10 + (int) (Math.random() * 89));
	private String studyA;
	private String seriesA;
	private String sopA;
	private String studyB;
	private String seriesB;
	private String sopB;
	private IdType patientA;
	private AuthorizationInterceptor authorization;
	private SearchNarrowingInterceptor narrowing;

	/** A StationName (indexed for QIDO) both patients' studies have, and only they. */
	private final String station = ("AZ" + Long.toString(System.nanoTime() % 1_000_000, 36) + "ZZZZZZ").substring(0, 8).toUpperCase();

	/** CT_small of the given patient (PatientID and StudyID are both "1CT1" in the file), at {@link #station}. */
	private byte[] instance(String thePatientId, String theStudy, String theSeries) {
		return DicomFixtures.replace(DicomFixtures.ctInstance(theStudy, theSeries), Map.of("1CT1", thePatientId, "CT01_OC0", station));
	}

	@BeforeAll
	void storeOneStudyPerPatientAndRestrict() {
		studyA = DicomFixtures.newStudyUid();
		seriesA = DicomFixtures.newSeriesUid();
		studyB = DicomFixtures.newStudyUid();
		seriesB = DicomFixtures.newSeriesUid();
		HttpResponse<byte[]> r = stow(null, "dicomweb/studies", instance(patientIdA, studyA, seriesA));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		sopA = json(r).at("/00081199/Value/0/00081155/Value/0").asText();
		r = stow(null, "dicomweb/studies", instance(patientIdB, studyB, seriesB));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		sopB = json(r).at("/00081199/Value/0/00081155/Value/0").asText();

		patientA = patientOfStudy(studyA);

		authorization = new AuthorizationInterceptor() {
			@Override
			public List<IAuthRule> buildRuleList(RequestDetails theRequest) {
				String token = theRequest instanceof SystemRequestDetails ? null : theRequest.getHeader("Authorization");
				if (token == null) {
					return new RuleBuilder().allowAll("no token: not part of this test").build();
				}
				if (!"Bearer A".equals(token)) {
					return new RuleBuilder().denyAll("unknown token").build();
				}
				return new RuleBuilder()
						.allow("A reads A").read().allResources().inCompartment("Patient", patientA).andThen()
						.allow("A writes A").write().allResources().inCompartment("Patient", patientA).andThen()
						// Binary has no compartment: the facade authorizes the ImagingStudy first
						.allow("Binary read").read().resourcesOfType("Binary").withAnyId().andThen()
						.allow("Binary write").write().resourcesOfType("Binary").withAnyId().andThen()
						.allow("Binary delete").delete().resourcesOfType("Binary").withAnyId().andThen()
						.denyAll("everything else")
						.build();
			}
		};
		narrowing = PatientCompartmentRules.tokenANarrowedTo(patientA);
		RestfulServer server = bean(RestfulServer.class);
		server.registerInterceptor(narrowing);
		server.registerInterceptor(authorization);
	}

	@AfterAll
	void unrestrict() {
		RestfulServer server = bean(RestfulServer.class);
		server.unregisterInterceptor(authorization);
		server.unregisterInterceptor(narrowing);
	}

	// ------------------------------------------------------------------ helpers

	private HttpResponse<byte[]> as(String theToken, HttpRequest.Builder theRequest) {
		if (theToken != null) {
			theRequest.header("Authorization", "Bearer " + theToken);
		}
		return send(theRequest.build());
	}

	private HttpResponse<byte[]> dwGet(String theToken, String thePath) {
		return as(theToken, request("dicomweb/" + thePath).GET());
	}

	private HttpResponse<byte[]> stow(String theToken, String thePath, byte[]... theParts) {
		return as(theToken, stowRequest(thePath, List.of(theParts)));
	}

	private String instancePath(String theStudy, String theSeries, String theSop) {
		return "studies/" + theStudy + "/series/" + theSeries + "/instances/" + theSop;
	}

	// ------------------------------------------------------------------ QIDO

	@Test
	void qidoReturnsOnlyTheCallersPatient() {
		// without a token both studies are there
		assertThat(values(json(dwGet(null, "studies?StudyInstanceUID=" + studyA + "," + studyB)), "0020000D"))
				.containsExactlyInAnyOrder(studyA, studyB);

		HttpResponse<byte[]> r = dwGet("A", "studies?StudyInstanceUID=" + studyA + "," + studyB);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(values(json(r), "0020000D")).containsExactly(studyA);

		// an unfiltered search: every study returned is patient A's
		JsonNode all = json(dwGet("A", "studies?limit=1000"));
		assertThat(values(all, "0020000D")).contains(studyA).doesNotContain(studyB);
		assertThat(values(all, "00100020")).containsOnly(patientIdA);

		assertThat(json(dwGet("A", "studies/" + studyB + "/series"))).isEmpty();
		assertThat(json(dwGet("A", "series?SeriesInstanceUID=" + seriesB))).isEmpty();
		assertThat(values(json(dwGet("A", "instances?SOPInstanceUID=" + sopA + "," + sopB)), "00080018")).containsExactly(sopA);

		// a key the attribute index answers narrows in the database; the candidates still go through
		// the caller's search: B's study, which has the same StationName, is not A's to see
		assertThat(values(json(dwGet(null, "studies?StationName=" + station)), "0020000D")).containsExactlyInAnyOrder(studyA, studyB);
		assertThat(values(json(dwGet("A", "studies?StationName=" + station)), "0020000D")).containsExactly(studyA);
		assertThat(values(json(dwGet("A", "series?StationName=" + station)), "0020000E")).containsExactly(seriesA);
		assertThat(values(json(dwGet("A", "instances?StationName=" + station)), "00080018")).containsExactly(sopA);

		// a token the rules do not know: refused before anything is read
		assertThat(dwGet("X", "studies").statusCode()).isEqualTo(403);
	}

	// ------------------------------------------------------------------ WADO

	@Test
	void wadoOnAnotherPatientsStudyIsForbidden() {
		assertThat(dwGet("A", "studies/" + studyA).statusCode()).isEqualTo(200);
		assertThat(dwGet("A", instancePath(studyA, seriesA, sopA) + "/metadata").statusCode()).isEqualTo(200);

		for (String path : List.of(
				"studies/" + studyB,
				"studies/" + studyB + "/series/" + seriesB,
				instancePath(studyB, seriesB, sopB),
				"studies/" + studyB + "/metadata",
				instancePath(studyB, seriesB, sopB) + "/frames/1",
				instancePath(studyB, seriesB, sopB) + "/bulkdata/7FE00010",
				"?requestType=WADO&studyUID=" + studyB + "&seriesUID=" + seriesB + "&objectUID=" + sopB
						+ "&contentType=application/dicom")) {
			HttpResponse<byte[]> r = dwGet("A", path);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(403);
			assertThat(r.headers().firstValue("Content-Type").orElse("")).doesNotStartWith("multipart");
		}
		// the same through WADO-URI for A's own instance works
		assertThat(dwGet("A", "?requestType=WADO&studyUID=" + studyA + "&seriesUID=" + seriesA + "&objectUID=" + sopA
				+ "&contentType=application/dicom").statusCode()).isEqualTo(200);
	}

	// ------------------------------------------------------------------ STOW

	@Test
	void stowIntoAnotherPatientsStudyIsForbidden() {
		// a new instance of B's study
		HttpResponse<byte[]> r = stow("A", "dicomweb/studies", instance(patientIdB, studyB, seriesB));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		r = stow("A", "dicomweb/studies/" + studyB, instance(patientIdB, studyB, seriesB));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		// a new study of patient B
		r = stow("A", "dicomweb/studies", instance(patientIdB, DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid()));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		assertThat(json(dwGet(null, "studies/" + studyB + "/instances"))).hasSize(1);

		// into A's own study: stored
		r = stow("A", "dicomweb/studies/" + studyA, instance(patientIdA, studyA, seriesA));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
	}

	// ------------------------------------------------------------------ DELETE

	@Test
	void deleteOfAnotherPatientsStudyIsForbidden() {
		for (String path : List.of("studies/" + studyB, "studies/" + studyB + "/series/" + seriesB, instancePath(studyB, seriesB, sopB))) {
			HttpResponse<byte[]> r = as("A", request("dicomweb/" + path).DELETE());
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(403);
		}
		assertThat(values(json(dwGet(null, "studies/" + studyB + "/instances")), "00080018")).containsExactly(sopB);

		// A may delete in A's own study: a second instance stored for the purpose
		String series = DicomFixtures.newSeriesUid();
		HttpResponse<byte[]> stored = stow("A", "dicomweb/studies/" + studyA, instance(patientIdA, studyA, series));
		assertThat(stored.statusCode()).as(bodyText(stored)).isEqualTo(200);
		HttpResponse<byte[]> r = as("A", request("dicomweb/studies/" + studyA + "/series/" + series).DELETE());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(204);
		assertThat(json(dwGet(null, "studies/" + studyA + "/series?SeriesInstanceUID=" + series))).isEmpty();
	}
}
