package org.dicomfhir.example;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.IPreResourceShowDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import com.fasterxml.jackson.databind.JsonNode;
import org.dicomfhir.hapi.dicomweb.StudyStore;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A QIDO query on an indexed key (StationName here) takes its candidate studies from the
 * parsed-study cache instead of loading them through HAPI's search, only when the answer is the
 * one HAPI's search gives: which studies match is still HAPI's search for ids (with the caller's
 * narrowing), each study must be its current version, the caller's rules must allow each one, and
 * no other loading hook may be registered. A caller limited to one patient never sees another's
 * series; a study changed or deleted through plain FHIR is never answered stale; an extra
 * STORAGE_PRESHOW_RESOURCES hook sees every study, as with HAPI's search.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebQidoCacheTest extends AbstractServerTest {

	private final String run = Long.toString(System.nanoTime() % 1_000_000, 36).toUpperCase();
	/** A StationName (8 characters, as CT_small's) only this class's studies have. */
	private final String station = station("Q1");
	private final String patientIdA = "QA" + (10 + (int) (Math.random() * 89));
	private final String patientIdB = "QB" + (10 + (int) (Math.random() * 89));
	private final DicomFixtures.NewSeries a = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries b = new DicomFixtures.NewSeries();
	private IdType patientA;
	private AuthorizationInterceptor authorization;
	private SearchNarrowingInterceptor narrowing;

	private String station(String thePrefix) {
		return (thePrefix + run + "ZZZZZZZZ").substring(0, 8);
	}

	/** CT_small of the patient, in the series, at the station (PatientID and StudyID are both "1CT1" in the file). */
	private static byte[] instance(DicomFixtures.NewSeries theSeries, String thePatientId, String theStation) {
		return DicomFixtures.replace(theSeries.instance(), Map.of("1CT1", thePatientId, "CT01_OC0", theStation));
	}

	private void stow(byte[]... theParts) {
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(theParts)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
	}

	@BeforeAll
	void storeTwoPatientsAtOneStationAndRestrict() {
		stow(instance(a, patientIdA, station), instance(b, patientIdB, station));
		patientA = patientOfStudy(a.study());

		// Tokens A and R may read patient A's compartment only; A's searches are also narrowed to it
		authorization = PatientCompartmentRules.readerOf(patientA);
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

	private HttpResponse<byte[]> qido(String theToken, String theQuery) {
		var request = request("dicomweb/" + theQuery).header("Accept", "application/dicom+json").GET();
		if (theToken != null) {
			request.header("Authorization", "Bearer " + theToken);
		}
		return send(request.build());
	}

	private JsonNode answer(String theToken, String theQuery) {
		HttpResponse<byte[]> r = qido(theToken, theQuery);
		assertThat(r.statusCode()).as(theQuery + ": " + bodyText(r)).isEqualTo(200);
		return json(r);
	}

	private long cachedSearches() {
		return bean(StudyStore.class).cachedStudySearches();
	}

	/** Asks twice without a token: the second answer comes from the cache (asserted) and is the first's. */
	private JsonNode askTwice(String theQuery) {
		JsonNode first = answer(null, theQuery);
		long before = cachedSearches();
		JsonNode again = answer(null, theQuery);
		assertThat(cachedSearches()).as("the second query is answered from the parsed studies").isEqualTo(before + 1);
		assertThat(again).isEqualTo(first);
		return again;
	}

	@Test
	void theCachedAnswerIsHapisAtEveryLevel() {
		assertThat(values(askTwice("series?StationName=" + station), "0020000E")).containsExactlyInAnyOrder(a.series(), b.series());
		assertThat(values(askTwice("studies?StationName=" + station), "0020000D")).containsExactlyInAnyOrder(a.study(), b.study());
		assertThat(askTwice("instances?StationName=" + station)).hasSize(2);
		assertThat(values(askTwice("series?StationName=" + station + "&PatientID=" + patientIdB), "0020000E")).containsExactly(b.series());
	}

	@Test
	void aCallerLimitedToOnePatientNeverSeesAnothersSeries() {
		String query = "series?StationName=" + station;
		askTwice(query); // both studies kept

		// narrowed to A's compartment: HAPI's search for ids finds A's study only, served from the cache
		long before = cachedSearches();
		assertThat(values(answer("A", query), "0020000E")).containsExactly(a.series());
		assertThat(values(answer("A", "instances?StationName=" + station), "00100020")).containsOnly(patientIdA);
		assertThat(values(answer("A", "studies?StationName=" + station), "0020000D")).containsExactly(a.study());
		assertThat(cachedSearches()).as("the narrowed search is answered from the cache").isEqualTo(before + 3);

		// not narrowed: B's study is among the candidates and the rules refuse it; HAPI's search answers
		before = cachedSearches();
		HttpResponse<byte[]> refused = qido("R", query);
		assertThat(refused.statusCode()).as(bodyText(refused)).isEqualTo(403);
		assertThat(bodyText(refused)).doesNotContain(b.series(), b.study(), patientIdB);
		assertThat(cachedSearches()).as("a refused study is never served from the cache").isEqualTo(before);
	}

	@Test
	void aStudyChangedThroughFhirIsNeverAnsweredStale() {
		DicomFixtures.NewSeries changed = new DicomFixtures.NewSeries();
		String own = station("Q2");
		stow(instance(changed, patientIdB, own));
		String query = "series?StationName=" + own;
		assertThat(values(askTwice(query), "0020000E")).containsExactly(changed.series());

		ImagingStudy study = parse(ImagingStudy.class, getJson("ImagingStudy/" + changed.study()));
		String renamed = DicomFixtures.newSeriesUid();
		study.getSeriesFirstRep().setUid(renamed);
		HttpResponse<byte[]> put = put("ImagingStudy/" + changed.study(), FHIR_JSON, encode(study).getBytes(StandardCharsets.UTF_8));
		assertThat(put.statusCode()).as(bodyText(put)).isEqualTo(200);

		assertThat(values(answer(null, query), "0020000E")).as("the study as it is now").containsExactly(renamed);
		assertThat(values(askTwice(query), "0020000E")).containsExactly(renamed);
	}

	@Test
	void aStudyDeletedThroughFhirIsNeverAnswered() {
		DicomFixtures.NewSeries gone = new DicomFixtures.NewSeries();
		String own = station("Q3");
		byte[] bytes = instance(gone, patientIdB, own);
		stow(bytes);
		String query = "series?StationName=" + own;
		assertThat(values(askTwice(query), "0020000E")).containsExactly(gone.series());

		// deleting its last instance's Binary through FHIR deletes the study
		HttpResponse<byte[]> deleted = delete("Binary/" + DicomFixtures.sha256(bytes));
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(200);
		assertThat(getJson("ImagingStudy/" + gone.study()).statusCode()).isEqualTo(410);

		assertThat(answer(null, query)).isEmpty();
		assertThat(answer(null, "studies?StationName=" + own)).isEmpty();
	}

	/** Counts the ImagingStudy resources HAPI shows: an audit (BALP) or consent hook sees the same calls. */
	@Interceptor
	public static class ShowCounter {
		final Set<String> studies = ConcurrentHashMap.newKeySet();

		@Hook(Pointcut.STORAGE_PRESHOW_RESOURCES)
		public void shown(IPreResourceShowDetails theDetails) {
			for (int i = 0; i < theDetails.size(); i++) {
				if (theDetails.getResource(i) instanceof ImagingStudy study) {
					studies.add(study.getIdElement().getIdPart());
				}
			}
		}
	}

	@Test
	void anotherShowHookSeesEveryStudyAsWithHapisSearch() {
		String query = "series?StationName=" + station;
		JsonNode cached = askTwice(query);

		ShowCounter counter = new ShowCounter();
		IInterceptorService jpa = bean(IInterceptorService.class);
		jpa.registerInterceptor(counter);
		try {
			long before = cachedSearches();
			for (int i = 0; i < 2; i++) {
				counter.studies.clear();
				assertThat(answer(null, query)).isEqualTo(cached);
				assertThat(counter.studies).as("HAPI's search showed both candidates").contains(a.study(), b.study());
			}
			assertThat(cachedSearches()).as("never answered from the cache while the hook is registered").isEqualTo(before);
		} finally {
			jpa.unregisterInterceptor(counter);
		}
	}
}
