package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.dicomfhir.hapi.studywrite.AttributeIndex;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import javax.sql.DataSource;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The QIDO attribute index (docs/dicomweb.md, "The attribute index"): a key on an indexed tag
 * (StationName here) narrows the candidate studies in the database, the answer stays exactly the
 * core's matching, a study whose instances were stored before the index (or before the tag was
 * indexed) is still found, deleting a study removes its rows, and nothing a client sends in a key
 * becomes a SQL wildcard.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebAttributeIndexTest extends AbstractServerTest {

	/** CT_small's StationName (SH, 8 characters in the file). */
	private static final String CT_STATION = "CT01_OC0";
	private static final ObjectMapper JSON = new ObjectMapper();

	private final String run = Long.toString(System.nanoTime() % 10_000, 36).toUpperCase();
	/** Stations of the same length as CT_STATION, unique to this run. */
	private final String station1 = pad("I1" + run);
	private final String station2 = pad("I2" + run);
	private final String stationOld = pad("I3" + run);
	private final String stationOlder = pad("I4" + run);
	/** A literal percent sign and underscore in a stored value; and a value they would match as SQL wildcards. */
	private final String stationWild = pad("%_" + run);
	private final String stationPlain = pad("XY" + run);
	private final DicomFixtures.NewSeries s1 = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries s2 = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries old = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries older = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries wild = new DicomFixtures.NewSeries();
	private final DicomFixtures.NewSeries plain = new DicomFixtures.NewSeries();

	private static String pad(String theValue) {
		return (theValue + "ZZZZZZZZ").substring(0, CT_STATION.length());
	}

	private static byte[] instance(DicomFixtures.NewSeries theSeries, String theStation) {
		return DicomFixtures.replace(theSeries.instance(), Map.of(CT_STATION, theStation));
	}

	@BeforeAll
	void store() throws Exception {
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(instance(s1, station1), instance(s1, station1),
				instance(s2, station2), instance(old, stationOld), instance(older, stationOlder), instance(wild, stationWild),
				instance(plain, stationPlain))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		// Every study is written (a QIDO waits for the study writes submitted before it).
		assertThat(qido("studies?StudyInstanceUID=" + s1.study())).hasSize(1);
		// Two rows as a store written before the index has them: no tag set, no values ...
		sql("UPDATE DFH_INSTANCE SET INDEX_SET = NULL WHERE STUDY_INSTANCE_UID = ?", old.study());
		sql("DELETE FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ?", old.study());
		// ... and as one written when StationName was not configured: a set without 00081010.
		sql("INSERT INTO DFH_INDEX_SET (SET_ID, TAGS) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM DFH_INDEX_SET WHERE SET_ID = ?)",
				"test0000older000", "00080070", "test0000older000");
		sql("UPDATE DFH_INSTANCE SET INDEX_SET = ? WHERE STUDY_INSTANCE_UID = ?", "test0000older000", older.study());
		sql("DELETE FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = ?", older.study(), "00081010");
	}

	private void sql(String theSql, String... theParams) throws Exception {
		try (Connection c = bean(DataSource.class).getConnection(); PreparedStatement s = c.prepareStatement(theSql)) {
			for (int i = 0; i < theParams.length; i++) {
				s.setString(i + 1, theParams[i]);
			}
			s.executeUpdate();
		}
	}

	private List<String> column(String theSql, String... theParams) throws Exception {
		List<String> out = new ArrayList<>();
		try (Connection c = bean(DataSource.class).getConnection(); PreparedStatement s = c.prepareStatement(theSql)) {
			for (int i = 0; i < theParams.length; i++) {
				s.setString(i + 1, theParams[i]);
			}
			try (ResultSet rows = s.executeQuery()) {
				while (rows.next()) {
					out.add(rows.getString(1));
				}
			}
		}
		return out;
	}

	private JsonNode qido(String theQuery) {
		HttpResponse<byte[]> r = get("dicomweb/" + theQuery, "application/dicom+json");
		assertThat(r.statusCode()).as(theQuery + ": " + bodyText(r)).isEqualTo(200);
		return json(r);
	}

	private static String q(String theValue) {
		return URLEncoder.encode(theValue, StandardCharsets.UTF_8);
	}

	/** The studies the index names for one plan condition (what narrows the FHIR search). */
	private Set<String> candidates(String theConditionJson) throws Exception {
		return bean(AttributeIndex.class).candidateStudies(JSON.readTree("[" + theConditionJson + "]"), 1000);
	}

	@Test
	void ingestWritesTheValuesOfTheIndexedTags() throws Exception {
		assertThat(column("SELECT VAL FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = '00081010'", s1.study()))
				.containsOnly(station1.toLowerCase());
		assertThat(column("SELECT VAL FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = '00080070'", s1.study()))
				.containsOnly("ge medical systems");
		// ImageType is multi-valued: one row per value
		assertThat(column("SELECT VAL FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = '00080008'", s1.study()))
				.containsOnly("original", "primary", "axial");
		assertThat(column("SELECT DISTINCT INDEX_SET FROM DFH_INSTANCE WHERE STUDY_INSTANCE_UID = ?", s1.study()))
				.singleElement().satisfies(set -> assertThat(set).hasSize(16));
	}

	@Test
	void anIndexedKeyNarrowsInTheDatabaseAndTheAnswerIsTheMatchingsAtEveryLevel() throws Exception {
		Set<String> narrowed = candidates("{\"tag\":\"00081010\",\"eq\":[\"" + station1.toLowerCase() + "\"]}");
		assertThat(narrowed).contains(s1.study()).doesNotContain(s2.study(), wild.study(), plain.study());

		assertThat(values(qido("studies?StationName=" + station1), "0020000D")).containsExactly(s1.study());
		JsonNode series = qido("series?StationName=" + station1);
		assertThat(values(series, "0020000E")).containsExactly(s1.series());
		assertThat(series.get(0).at("/00081010/Value/0").asText()).isEqualTo(station1);
		assertThat(qido("instances?StationName=" + station1)).hasSize(2);
		assertThat(values(qido("series?StationName=" + q(station1 + "\\" + station2)), "0020000E"))
				.containsExactlyInAnyOrder(s1.series(), s2.series());
		// prefix
		assertThat(values(qido("series?StationName=" + station1.substring(0, 5) + "*"), "0020000E")).containsExactly(s1.series());
		// SH matches case-sensitively: the index (case-folded) finds the candidate, the core refuses it
		assertThat(qido("series?StationName=" + station1.toLowerCase())).isEmpty();
		// no study has the value: nothing, without reading anything
		assertThat(qido("series?StationName=NOSUCH" + run)).isEmpty();
	}

	@Test
	void studiesStoredBeforeTheIndexOrBeforeTheTagWasIndexedAreStillFound() throws Exception {
		assertThat(candidates("{\"tag\":\"00081010\",\"eq\":[\"nosuch\"]}")).contains(old.study(), older.study());
		assertThat(values(qido("studies?StationName=" + stationOld), "0020000D")).containsExactly(old.study());
		assertThat(values(qido("series?StationName=" + stationOlder), "0020000E")).containsExactly(older.series());
		assertThat(qido("instances?StationName=" + stationOld)).hasSize(1);
	}

	@Test
	void sqlWildcardsAndHostileKeysStayLiteral() throws Exception {
		// "%_" literally: the study whose station merely starts like it would under LIKE is not a candidate
		String literal = stationWild.substring(0, 4).toLowerCase();
		assertThat(candidates("{\"tag\":\"00081010\",\"prefix\":\"" + literal + "\"}"))
				.contains(wild.study()).doesNotContain(plain.study(), s1.study());
		assertThat(candidates("{\"tag\":\"00081010\",\"prefix\":\"%\"}")).doesNotContain(plain.study(), s1.study());
		assertThat(candidates("{\"tag\":\"00081010\",\"prefix\":\"_\"}")).doesNotContain(plain.study(), s1.study());
		assertThat(values(qido("series?StationName=" + q(stationWild)), "0020000E")).containsExactly(wild.series());
		assertThat(values(qido("series?StationName=" + q(stationWild.substring(0, 4)) + "*"), "0020000E")).containsExactly(wild.series());
		for (String hostile : List.of("%", "%*", "_*", "!*", "!%", "\\", "a\\%", "'; DROP TABLE DFH_INSTANCE_ATTR; --",
				"x".repeat(5000), "Ünïcødé*", "日本*", "*%", "?%")) {
			JsonNode answer = qido("series?StationName=" + q(hostile));
			assertThat(values(answer, "0020000E")).as(hostile).doesNotContain(s1.series(), plain.series());
		}
		assertThat(column("SELECT COUNT(*) FROM DFH_INSTANCE_ATTR")).singleElement().isNotEqualTo("0");
	}

	@Test
	void deletingAStudyRemovesItsRows() throws Exception {
		DicomFixtures.NewSeries gone = new DicomFixtures.NewSeries();
		String station = pad("I5" + run);
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(instance(gone, station))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(values(qido("studies?StationName=" + station), "0020000D")).containsExactly(gone.study());
		assertThat(column("SELECT SOP_INSTANCE_UID FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ?", gone.study())).isNotEmpty();
		HttpResponse<byte[]> deleted = delete("dicomweb/studies/" + gone.study());
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isBetween(200, 204);
		assertThat(qido("studies?StationName=" + station)).isEmpty(); // waits for the study write
		assertThat(column("SELECT SOP_INSTANCE_UID FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ?", gone.study())).isEmpty();
	}

	@Test
	void everyPartOfOneRequestHasItsValuesIndexedOnceWhateverRepeatsAroundIt() throws Exception {
		// One request (one transaction) whose parts repeat their study's values, with a value only
		// one part (of another series) has between repeats, then a later request adding a third
		// series: each value once, each station's series found.
		DicomFixtures.NewSeries mixed = new DicomFixtures.NewSeries();
		DicomFixtures.NewSeries second = new DicomFixtures.NewSeries(mixed.study(), DicomFixtures.newSeriesUid());
		DicomFixtures.NewSeries third = new DicomFixtures.NewSeries(mixed.study(), DicomFixtures.newSeriesUid());
		String a = pad("I6" + run);
		String b = pad("I7" + run);
		String c = pad("I8" + run);
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(instance(mixed, a), instance(mixed, a),
				instance(second, b), instance(mixed, a))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		r = send(stowRequest("dicomweb/studies", List.of(instance(mixed, a), instance(third, c))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		for (String station : List.of(a, b, c)) {
			assertThat(values(qido("studies?StationName=" + station), "0020000D")).as(station).containsExactly(mixed.study());
		}
		assertThat(column("SELECT VAL FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = '00081010'", mixed.study()))
				.containsExactlyInAnyOrder(a.toLowerCase(), b.toLowerCase(), c.toLowerCase());
		assertThat(column("SELECT VAL FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ? AND TAG = '00080070'", mixed.study()))
				.containsExactly("ge medical systems");
	}
}
