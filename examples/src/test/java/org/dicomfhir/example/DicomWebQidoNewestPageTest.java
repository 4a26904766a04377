package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.dicomfhir.hapi.dicomweb.QidoService;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A page ({@code limit}, {@code offset}) of a query matching more studies than the page needs is
 * answered from the newest studies only, and must be exactly that page of the whole answer:
 * paging through it with any page size gives the whole answer, in order, each row once, with
 * "additional results" on every page but the last. The store makes the boundary hard: several
 * studies starting at the same second, and one without a StudyDate (which the database may sort
 * first or last).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebQidoNewestPageTest extends AbstractServerTest {

	/** A PatientID (4 characters, as CT_small's "1CT1") only this class's studies have. */
	private final String patientId = ("N" + Long.toString(System.nanoTime() % 46_000, 36).toUpperCase() + "ZZZ").substring(0, 4);
	private final List<String> studies = new ArrayList<>();

	/** CT_small as a new study of the patient, on that day ("        ": no StudyDate) and time. */
	private byte[] study(String theDate, String theTime) {
		DicomFixtures.NewSeries series = new DicomFixtures.NewSeries();
		studies.add(series.study());
		return DicomFixtures.replace(series.instance(), Map.of("1CT1", patientId, "20040119", theDate, "072730", theTime));
	}

	@BeforeAll
	void storeStudiesWithTiesAndOneWithoutADate() {
		List<byte[]> parts = new ArrayList<>();
		for (int day = 1; day <= 20; day++) {
			parts.add(study(String.format("201903%02d", day), "101010"));
		}
		for (int i = 0; i < 4; i++) { // four more starting with day 12's study, to the second
			parts.add(study("20190312", "101010"));
		}
		parts.add(study("        ", "101010"));
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", parts).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
	}

	private HttpResponse<byte[]> qido(String theQuery) {
		HttpResponse<byte[]> r = send(request("dicomweb/" + theQuery).header("Accept", "application/dicom+json").GET().build());
		assertThat(r.statusCode()).as(theQuery + ": " + bodyText(r)).isIn(200, 204);
		return r;
	}

	private static boolean saysMore(HttpResponse<byte[]> theResponse) {
		return theResponse.headers().allValues("Warning").stream().anyMatch(w -> w.startsWith("299 ") && w.contains("additional results"));
	}

	/** Every page of {@code theQuery} at this page size, concatenated; asserts the "more" warnings. */
	private List<String> paged(String theQuery, String theTag, int theLimit) {
		List<String> rows = new ArrayList<>();
		for (int offset = 0; ; offset += theLimit) {
			HttpResponse<byte[]> page = qido(theQuery + "&limit=" + theLimit + "&offset=" + offset);
			List<String> got = page.statusCode() == 204 ? List.of() : values(json(page), theTag);
			rows.addAll(got);
			boolean last = got.size() < theLimit || rows.size() == studies.size();
			assertThat(saysMore(page)).as(theQuery + " limit " + theLimit + " offset " + offset + ": more results said").isEqualTo(!last);
			if (last) {
				return rows;
			}
		}
	}

	@Test
	void everyPageSizeGivesTheWholeAnswerInOrder() {
		String query = "studies?PatientID=" + patientId;
		HttpResponse<byte[]> all = qido(query);
		List<String> whole = values(json(all), "0020000D");
		assertThat(whole).containsExactlyInAnyOrderElementsOf(studies);
		assertThat(saysMore(all)).isFalse();
		// newest first: day 20's study, the study without a date last
		assertThat(whole.get(0)).isEqualTo(studies.get(19));
		assertThat(whole.get(whole.size() - 1)).isEqualTo(studies.get(studies.size() - 1));

		long before = bean(QidoService.class).newestPageAnswers();
		for (int limit : new int[] {1, 2, 3, 5, 7, 24, 25}) {
			assertThat(paged(query, "0020000D", limit)).as("limit " + limit).containsExactlyElementsOf(whole);
		}
		assertThat(bean(QidoService.class).newestPageAnswers()).as("pages answered from the newest studies").isGreaterThan(before);
	}

	@Test
	void anOffsetBeyondTheIntRangeIsAnEmptyPageWithNothingMore() {
		// 2^32 + 1: cut to an int it would be a small page, answered from the newest studies
		HttpResponse<byte[]> far = qido("studies?PatientID=" + patientId + "&limit=1&offset=4294967297");
		assertThat(far.statusCode() == 204 || json(far).isEmpty()).as(bodyText(far)).isTrue();
		assertThat(saysMore(far)).isFalse();
	}

	@Test
	void seriesPagesToo() {
		String query = "series?PatientID=" + patientId + "&Modality=CT";
		List<String> whole = values(json(qido(query)), "0020000E");
		assertThat(whole).hasSize(studies.size());
		for (int limit : new int[] {1, 4, 6}) {
			assertThat(paged(query, "0020000E", limit)).as("limit " + limit).containsExactlyElementsOf(whole);
		}
		// a Modality no series has: nothing, and nothing more to ask for
		HttpResponse<byte[]> none = qido("series?PatientID=" + patientId + "&Modality=MR&limit=2");
		assertThat(none.statusCode() == 204 || json(none).isEmpty()).isTrue();
		assertThat(saysMore(none)).isFalse();
	}
}
