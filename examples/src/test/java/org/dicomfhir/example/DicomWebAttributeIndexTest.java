package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.dicomfhir.hapi.ingest.StudyIndexReconciler;
import org.dicomfhir.hapi.studywrite.AttributeIndex;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import javax.sql.DataSource;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
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
	/** A tag set of an earlier configuration, without StationName (00081010). */
	private static final String OLDER_SET = "test0000older000";

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
		// Two rows as a store written before the index has them: no tag set, no values, no set
		// marker, until the start-up of a version with markers writes the markers of such rows ...
		sql("UPDATE DFH_INSTANCE SET INDEX_SET = NULL WHERE STUDY_INSTANCE_UID = ?", old.study());
		sql("DELETE FROM DFH_INSTANCE_ATTR WHERE STUDY_INSTANCE_UID = ?", old.study());
		assertThat(bean(InstanceLedger.class).markEarlierRows()).isGreaterThanOrEqualTo(1);
		// ... and as one written when StationName was not configured: a set without 00081010 (its
		// rows, and the study's set marker, name that set).
		sql("INSERT INTO DFH_INDEX_SET (SET_ID, TAGS) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM DFH_INDEX_SET WHERE SET_ID = ?)",
				OLDER_SET, "00080070", OLDER_SET);
		sql("UPDATE DFH_INSTANCE SET INDEX_SET = ? WHERE STUDY_INSTANCE_UID = ?", OLDER_SET, older.study());
		sql("UPDATE DFH_INSTANCE_ATTR SET VAL = ? WHERE STUDY_INSTANCE_UID = ? AND TAG = 'INDEXSET'", OLDER_SET, older.study());
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

	private List<String[]> rows(String theSql) throws Exception {
		List<String[]> out = new ArrayList<>();
		try (Connection c = bean(DataSource.class).getConnection(); PreparedStatement s = c.prepareStatement(theSql);
				ResultSet rows = s.executeQuery()) {
			while (rows.next()) {
				out.add(new String[] {rows.getString(1), rows.getString(2)});
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

	/**
	 * A study with one instance not indexed with the tag among many that are (here the reconciler
	 * recorded it, as it does for Binaries stored without a ledger row: no tag set) stays a
	 * candidate whatever its values, and is found; a study of current-set rows only is not.
	 */
	@Test
	void aStudyWithOneInstanceOfAnotherSetAmongCurrentOnesStaysACandidate() throws Exception {
		DicomFixtures.NewSeries mixed = new DicomFixtures.NewSeries();
		String station = pad("I6" + run);
		Instant before = Instant.now().minusSeconds(1);
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies",
				List.of(instance(mixed, station), instance(mixed, station), instance(mixed, station))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(qido("instances?StationName=" + station)).hasSize(3);
		String nosuch = "{\"tag\":\"00081010\",\"eq\":[\"nosuch" + run.toLowerCase() + "\"]}";
		assertThat(candidates(nosuch)).doesNotContain(mixed.study(), s1.study());

		// One instance loses its ledger row; the reconciler records it again, without a tag set.
		String one = column("SELECT MIN(SOP_INSTANCE_UID) FROM DFH_INSTANCE WHERE STUDY_INSTANCE_UID = ?", mixed.study()).get(0);
		sql("DELETE FROM DFH_INSTANCE WHERE SOP_INSTANCE_UID = ?", one);
		assertThat(bean(StudyIndexReconciler.class).reconcileSince(before)).isGreaterThanOrEqualTo(1);
		assertThat(column("SELECT INDEX_SET FROM DFH_INSTANCE WHERE SOP_INSTANCE_UID = ?", one)).containsExactly((String) null);

		assertThat(candidates(nosuch)).contains(mixed.study()).doesNotContain(s1.study());
		assertThat(qido("instances?StationName=" + station)).hasSize(3);
		assertThat(values(qido("studies?StationName=" + station), "0020000D")).containsExactly(mixed.study());
	}

	/**
	 * Where every instance was indexed with the tag, the completeness half reads only the set
	 * markers of the sets without it (equality lookups of the index): nothing of the ledger
	 * (DFH_INSTANCE), no scan, and not the current set's marker of every study.
	 */
	@Test
	void theCompletenessHalfReadsOnlyTheMarkersOfOtherSets() throws Exception {
		// More studies of the current set than markers of other sets, so reading the former shows.
		List<DicomFixtures.NewSeries> current = new ArrayList<>();
		for (int i = 0; i < 8; i++) {
			current.add(new DicomFixtures.NewSeries());
		}
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", current.stream().map(c -> instance(c, pad("I8" + run))).toList()).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		List<String[]> sets = rows("SELECT SET_ID, TAGS FROM DFH_INDEX_SET");
		String currentSet = column("SELECT INDEX_SET FROM DFH_INSTANCE WHERE STUDY_INSTANCE_UID = ?", s1.study()).get(0);
		int currentMarkers = Integer.parseInt(column("SELECT COUNT(*) FROM DFH_INSTANCE_ATTR WHERE TAG = 'INDEXSET' AND VAL = ?",
				currentSet).get(0));
		int otherMarkers = Integer.parseInt(column("SELECT COUNT(*) FROM DFH_INSTANCE_ATTR WHERE TAG = 'INDEXSET' AND VAL <> ?",
				currentSet).get(0));
		assertThat(currentMarkers).isGreaterThan(otherMarkers + 2);
		long setsWithout = sets.stream().filter(set -> !List.of(set[1].split(",")).contains("00081010")).count()
				+ (sets.stream().anyMatch(set -> set[0].equals("none")) ? 0 : 1);
		java.util.regex.Pattern markerScan = java.util.regex.Pattern.compile(
				"DFH_INSTANCE_ATTR_VALUE: TAG = 'INDEXSET'\\s+AND VAL = \\S+\\s+\\*/\\s+/\\* scanCount: (\\d+)");
		for (String condition : List.of("{\"tag\":\"00081010\",\"eq\":[\"x\"]}", "{\"tag\":\"00081010\",\"prefix\":\"x\"}",
				"{\"tag\":\"00081010\",\"from\":\"a\",\"to\":\"b\"}")) {
			List<String> params = new ArrayList<>();
			String sql = AttributeIndex.candidatesSql(JSON.readTree(condition), sets, params);
			String plan = String.join("\n", column("EXPLAIN ANALYZE " + sql, params.toArray(String[]::new)));
			assertThat(plan).as(plan).doesNotContainIgnoringCase("tableScan").doesNotContain("\"DFH_INSTANCE\"");
			java.util.regex.Matcher m = markerScan.matcher(plan);
			int lookups = 0;
			while (m.find()) {
				lookups++;
				// the markers of that set (no set, or one without StationName), and one more read
				assertThat(Integer.parseInt(m.group(1))).as(plan).isLessThanOrEqualTo(otherMarkers + 1);
			}
			assertThat(lookups).as(plan).isEqualTo(setsWithout); // 'none', the older set, any other without StationName
		}
		// The same statement's answer: the studies of the sets without StationName only.
		List<String> params = new ArrayList<>();
		String sql = AttributeIndex.candidatesSql(JSON.readTree("{\"tag\":\"00081010\",\"eq\":[\"nosuch\"]}"), sets, params);
		assertThat(column(sql, params.toArray(String[]::new))).contains(old.study(), older.study()).doesNotContain(s1.study(), s2.study());
	}

	/** A set another node recorded after this node read the sets is still honoured: its studies stay candidates. */
	@Test
	void aSetRecordedByAnotherNodeMeanwhileIsHonoured() throws Exception {
		DicomFixtures.NewSeries other = new DicomFixtures.NewSeries();
		String station = pad("I7" + run);
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(instance(other, station))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		String nosuch = "{\"tag\":\"00081010\",\"eq\":[\"nosuch" + run.toLowerCase() + "\"]}";
		assertThat(candidates(nosuch)).doesNotContain(other.study()); // the sets are read (and kept for a minute)
		// As another node configured without StationName writes: its set, then its rows and marker.
		String newer = "test1" + run.toLowerCase() + "newer000000".substring(0, 11 - run.length());
		sql("INSERT INTO DFH_INDEX_SET (SET_ID, TAGS) VALUES (?, ?)", newer, "00080070");
		sql("UPDATE DFH_INSTANCE SET INDEX_SET = ? WHERE STUDY_INSTANCE_UID = ?", newer, other.study());
		sql("UPDATE DFH_INSTANCE_ATTR SET VAL = ? WHERE STUDY_INSTANCE_UID = ? AND TAG = 'INDEXSET'", newer, other.study());
		assertThat(candidates(nosuch)).contains(other.study());
		assertThat(values(qido("studies?StationName=" + station), "0020000D")).containsExactly(other.study());
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
		String a = pad("IA" + run);
		String b = pad("IB" + run);
		String c = pad("IC" + run);
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
