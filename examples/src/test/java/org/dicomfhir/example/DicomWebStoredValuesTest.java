package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.dicomfhir.hapi.dicomweb.StoredAttributes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QIDO answers with the DICOM values stored in the instances, not with values later edited in
 * FHIR; ReferringPhysicianName and StudyID come from the instances too. The database narrows
 * (AccessionNumber through ImagingStudy.identifier): a query by AccessionNumber on a store of
 * many studies reads one study's instance. Also measures a QIDO of 100 studies, cold and warm.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebStoredValuesTest extends AbstractServerTest {

	// waveform_ecg.dcm: StudyDescription ECG, ReferringPhysicianName 2721, StudyID 1, AccessionNumber below
	private static final String ECG_STUDY = "1.3.76.13.65829.2.20130125082826.1072139.2";
	private static final String ECG_SERIES = "1.3.6.1.4.1.20029.40.20130125105919.5407.1";
	private static final String ECG_SOP = "1.3.6.1.4.1.20029.40.20130125105919.5407.1.1";
	private static final String ECG_ACCESSION = "03028041970546";
	private static final AtomicLong ourAccession = new AtomicLong(System.currentTimeMillis() % 10_000_000L * 1_000);

	private final List<String> ecgStudies = new ArrayList<>();
	private final List<String> accessions = new ArrayList<>();
	private final List<String> ctStudies = new ArrayList<>();

	/** waveform_ecg.dcm with new UIDs and a new AccessionNumber (the SOP UID starts with the series UID: it goes first). */
	private byte[] ecg(String theStudy, String theAccession) {
		Map<String, String> replacements = new LinkedHashMap<>();
		replacements.put(ECG_SOP, DicomFixtures.newUid(ECG_SOP.length()));
		replacements.put(ECG_SERIES, DicomFixtures.newUid(ECG_SERIES.length()));
		replacements.put(ECG_STUDY, theStudy);
		replacements.put(ECG_ACCESSION, theAccession);
		return DicomFixtures.replace(DicomFixtures.read("pydicom/waveform_ecg.dcm"), replacements);
	}

	@BeforeAll
	void store() {
		List<byte[]> parts = new ArrayList<>();
		for (int i = 0; i < 3; i++) {
			String study = DicomFixtures.newUid(ECG_STUDY.length());
			String accession = "9" + String.format("%013d", ourAccession.incrementAndGet());
			ecgStudies.add(study);
			accessions.add(accession);
			parts.add(ecg(study, accession));
		}
		for (int i = 0; i < 100; i++) {
			String study = DicomFixtures.newStudyUid();
			ctStudies.add(study);
			parts.add(DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid()));
		}
		long start = System.nanoTime();
		HttpResponse<byte[]> r = stow(parts);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		System.out.printf("STOW of %d studies in one request: %d ms%n", parts.size(), (System.nanoTime() - start) / 1_000_000);
	}

	private HttpResponse<byte[]> stow(List<byte[]> theParts) {
		return send(stowRequest("dicomweb/studies", theParts).build());
	}

	private JsonNode qido(String theQuery) {
		HttpResponse<byte[]> r = get("dicomweb/" + theQuery, "application/dicom+json");
		assertThat(r.statusCode()).as(theQuery + ": " + bodyText(r)).isEqualTo(200);
		return json(r);
	}

	@Test
	void qidoReportsTheStoredValuesNotTheFhirEdits() {
		String study = ecgStudies.get(0);
		JsonNode before = qido("studies?StudyInstanceUID=" + study + "&includefield=StudyDescription").get(0);
		assertThat(before.at("/00081030/Value/0").asText()).isEqualTo("ECG");
		assertThat(before.at("/00080090/Value/0/Alphabetic").asText()).isEqualTo("2721");
		assertThat(before.at("/00200010/Value/0").asText()).isEqualTo("1");
		assertThat(before.at("/00080050/Value/0").asText()).isEqualTo(accessions.get(0));

		// edit the ImagingStudy's description through FHIR
		HttpResponse<byte[]> found = getJson("ImagingStudy?identifier=urn:dicom:uid%7Curn:oid:" + study);
		org.hl7.fhir.r4.model.Bundle bundle = parse(org.hl7.fhir.r4.model.Bundle.class, found);
		org.hl7.fhir.r4.model.ImagingStudy imagingStudy = (org.hl7.fhir.r4.model.ImagingStudy) bundle.getEntryFirstRep().getResource();
		imagingStudy.setDescription("Edited in FHIR");
		imagingStudy.getIdentifier().stream().filter(i -> accessions.get(0).equals(i.getValue())).forEach(i -> i.setValue("EDITED0"));
		HttpResponse<byte[]> updated = put("ImagingStudy/" + imagingStudy.getIdElement().getIdPart(), FHIR_JSON,
				encode(imagingStudy).getBytes(StandardCharsets.UTF_8));
		assertThat(updated.statusCode()).as(bodyText(updated)).isEqualTo(200);
		assertThat(bodyText(getJson("ImagingStudy/" + imagingStudy.getIdElement().getIdPart()))).contains("Edited in FHIR", "EDITED0");
		// the database narrows on the kept DICOM values too, so the edit does not hide the study
		assertThat(values(qido("studies?AccessionNumber=" + accessions.get(0)), "0020000D")).containsExactly(study);
		assertThat(qido("studies?AccessionNumber=EDITED0")).isEmpty();

		// QIDO still says what the instance says (kept in the ImagingStudy at ingest: no Binary read)
		StoredAttributes stored = bean(StoredAttributes.class);
		stored.clear();
		JsonNode after = qido("studies?StudyInstanceUID=" + study + "&includefield=StudyDescription").get(0);
		assertThat(after.at("/00081030/Value/0").asText()).isEqualTo("ECG");
		assertThat(stored.size()).isZero();
		assertThat(values(qido("studies?StudyInstanceUID=" + study + "&StudyDescription=ECG"), "0020000D")).containsExactly(study);
		assertThat(qido("studies?StudyInstanceUID=" + study + "&StudyDescription=Edited*")).isEmpty();
		// ReferringPhysicianName and StudyID are matchable
		assertThat(values(qido("studies?StudyInstanceUID=" + String.join(",", ecgStudies) + "&ReferringPhysicianName=2721&StudyID=1"),
				"0020000D")).containsExactlyInAnyOrderElementsOf(ecgStudies);
		// series and instance levels
		JsonNode series = qido("studies/" + study + "/series").get(0);
		assertThat(series.at("/00080060/Value/0").asText()).isEqualTo("ECG");
		JsonNode instance = qido("studies/" + study + "/instances").get(0);
		assertThat(instance.at("/00080016/Value/0").asText()).startsWith("1.2.840.10008.5.1.4.1.1.9");
	}

	@Test
	void theDatabaseNarrowsOnThePluginsSearchParameters() {
		// registered at startup, indexed at ingest: FHIR clients can search them too
		for (String search : List.of("dicom-study-description=ecg", "dicom-patient-id:exact=642341", "dicom-patient-name=anonym",
				"dicom-modality:exact=ECG")) {
			assertThat(fhirStudyUids(search)).as(search).containsAll(ecgStudies).doesNotContainAnyElementsOf(ctStudies);
		}
		assertThat(fhirStudyUids("dicom-patient-id:exact=64234")).as("exact").isEmpty();

		// QIDO on them answers from the narrowed candidates (no Binary read)
		StoredAttributes stored = bean(StoredAttributes.class);
		stored.clear();
		assertThat(values(qido("studies?StudyDescription=EC*&limit=1000"), "0020000D")).containsExactlyInAnyOrderElementsOf(ecgStudies);
		assertThat(values(qido("studies?PatientName=anonym*&PatientID=642341"), "0020000D")).containsExactlyInAnyOrderElementsOf(ecgStudies);
		assertThat(qido("studies?StudyDescription=ec*")).as("LO matching is case-sensitive").isEmpty();
		assertThat(stored.size()).isZero();
	}

	@Test
	void moreCandidatesThanTheCapAreCutToTheNewestWithAWarning() {
		String query = "studies?StudyInstanceUID=" + String.join(",", ctStudies) + "&limit=100";
		List<String> all = values(qido(query), "0020000D");
		assertThat(all).hasSize(100);
		org.dicomfhir.hapi.dicomweb.DicomWebProperties properties = bean(org.dicomfhir.hapi.dicomweb.DicomWebProperties.class);
		int cap = properties.getQidoMaxCandidateStudies();
		properties.setQidoMaxCandidateStudies(10);
		try {
			HttpResponse<byte[]> r = get("dicomweb/" + query, "application/dicom+json");
			assertThat(r.statusCode()).isEqualTo(200);
			assertThat(r.headers().allValues("Warning")).anyMatch(w -> w.contains("only the 10 most recent were searched"));
			// the database's order (used when cutting) and ours (otherwise) agree
			assertThat(values(json(r), "0020000D")).containsExactlyElementsOf(all.subList(0, 10));
		} finally {
			properties.setQidoMaxCandidateStudies(cap);
		}
	}

	@Test
	void candidatesSpanningSeveralDatabasePagesAreAllSeenOnce() {
		String query = "studies?StudyInstanceUID=" + String.join(",", ctStudies) + "&limit=100";
		List<String> all = values(qido(query), "0020000D");
		// the server's maximum page size bounds each DAO search (StudyStore.searchAll)
		ca.uhn.fhir.rest.server.RestfulServer server = bean(ca.uhn.fhir.rest.server.RestfulServer.class);
		Integer max = server.getMaximumPageSize();
		server.setMaximumPageSize(30); // 100 candidates: 4 pages
		try {
			List<String> paged = values(qido(query), "0020000D");
			assertThat(paged).containsExactlyElementsOf(all).doesNotHaveDuplicates().hasSize(100);
		} finally {
			server.setMaximumPageSize(max);
		}
	}

	private List<String> fhirStudyUids(String theSearch) {
		org.hl7.fhir.r4.model.Bundle bundle = parse(org.hl7.fhir.r4.model.Bundle.class,
				getJson("ImagingStudy?" + theSearch + "&_count=1000&_elements=identifier"));
		return bundle.getEntry().stream()
				.map(e -> ((org.hl7.fhir.r4.model.ImagingStudy) e.getResource()).getIdentifierFirstRep().getValue().substring("urn:oid:".length()))
				.toList();
	}

	@Test
	void withoutTheKeptValuesQidoReadsTheStoredInstance() {
		// a FHIR client that drops extensions it does not know (or a study written before ingest
		// kept the values): QIDO falls back to reading the instance's Binary
		String study = DicomFixtures.newUid(ECG_STUDY.length());
		assertThat(stow(List.of(ecg(study, "8" + String.format("%013d", ourAccession.incrementAndGet())))).statusCode()).isEqualTo(200);
		org.hl7.fhir.r4.model.Bundle bundle = parse(org.hl7.fhir.r4.model.Bundle.class,
				getJson("ImagingStudy?identifier=urn:dicom:uid%7Curn:oid:" + study));
		org.hl7.fhir.r4.model.ImagingStudy imagingStudy = (org.hl7.fhir.r4.model.ImagingStudy) bundle.getEntryFirstRep().getResource();
		String kept = "http://dicomfhir.org/fhir/StructureDefinition/dicom-attributes";
		assertThat(imagingStudy.getExtensionByUrl(kept)).isNotNull();
		imagingStudy.getExtension().removeIf(e -> kept.equals(e.getUrl()));
		imagingStudy.getSeries().forEach(se -> se.getExtension().removeIf(e -> kept.equals(e.getUrl())));
		imagingStudy.setDescription("Edited in FHIR");
		HttpResponse<byte[]> updated = put("ImagingStudy/" + imagingStudy.getIdElement().getIdPart(), FHIR_JSON,
				encode(imagingStudy).getBytes(StandardCharsets.UTF_8));
		assertThat(updated.statusCode()).as(bodyText(updated)).isEqualTo(200);

		StoredAttributes stored = bean(StoredAttributes.class);
		stored.clear();
		JsonNode found = qido("studies?StudyInstanceUID=" + study + "&includefield=StudyDescription").get(0);
		assertThat(found.at("/00081030/Value/0").asText()).isEqualTo("ECG");
		assertThat(found.at("/00200010/Value/0").asText()).isEqualTo("1");
		assertThat(stored.size()).as("Binaries read").isEqualTo(1);
		assertThat(qido("studies/" + study + "/series").get(0).at("/00080060/Value/0").asText()).isEqualTo("ECG");
	}

	@Test
	void accessionNumberNarrowsInTheDatabase() {
		StoredAttributes stored = bean(StoredAttributes.class);
		stored.clear();
		JsonNode one = qido("studies?AccessionNumber=" + accessions.get(1));
		assertThat(values(one, "0020000D")).containsExactly(ecgStudies.get(1));
		// no Binary was read: ingest kept the values in the ImagingStudy
		assertThat(stored.size()).isZero();
	}

	@Test
	void qidoOfHundredStudiesStaysFast() {
		String query = "studies?StudyInstanceUID=" + String.join(",", ctStudies) + "&limit=100";
		StoredAttributes stored = bean(StoredAttributes.class);
		stored.clear();
		long t0 = System.nanoTime();
		JsonNode cold = qido(query);
		long cold_ms = (System.nanoTime() - t0) / 1_000_000;
		long warm_ms = Long.MAX_VALUE;
		for (int i = 0; i < 3; i++) {
			long t1 = System.nanoTime();
			qido(query);
			warm_ms = Math.min(warm_ms, (System.nanoTime() - t1) / 1_000_000);
		}
		System.out.printf("QIDO /studies of 100 studies: first %d ms, then %d ms%n", cold_ms, warm_ms);
		assertThat(cold).hasSize(100);
		assertThat(values(cold, "00200010")).allMatch("1CT1"::equals);
		assertThat(stored.size()).as("Binaries read").isZero();
		// generous bounds: a shared 2-core machine; the point is "not seconds per study"
		assertThat(cold_ms).isLessThan(30_000);
		assertThat(warm_ms).isLessThan(5_000);
	}

	@Test
	void aKeyOutsideTheIndexReadsTheNarrowedCandidatesOnceThenTheCache() {
		StoredAttributes stored = bean(StoredAttributes.class);
		List<String> studies = new ArrayList<>(ctStudies);
		studies.addAll(ecgStudies);
		String candidates = "studies?StudyInstanceUID=" + String.join(",", studies);
		// a series attribute outside the table is kept in the ImagingStudy: nothing is read
		stored.clear();
		assertThat(values(qido("studies?AccessionNumber=" + accessions.get(2) + "&Manufacturer=Mortara*"), "0020000D"))
				.containsExactly(ecgStudies.get(2));
		assertThat(values(qido(candidates + "&Manufacturer=GE*&limit=1000"), "0020000D")).containsExactlyInAnyOrderElementsOf(ctStudies);
		assertThat(stored.size()).as("Binaries read").isZero();

		// an instance attribute outside the attribute index (TableHeight; SliceLocation is indexed
		// now): narrowed by an indexed key first, one instance read
		assertThat(qido("studies?AccessionNumber=" + accessions.get(2) + "&TableHeight=133.699997")).isEmpty();
		assertThat(stored.size()).as("Binaries read").isEqualTo(1);

		// 103 candidates of one instance each: every instance is read, once
		String query = candidates + "&TableHeight=133.699997&limit=1000";
		stored.clear();
		long t0 = System.nanoTime();
		JsonNode cold = qido(query);
		long cold_ms = (System.nanoTime() - t0) / 1_000_000;
		assertThat(stored.size()).as("Binaries read").isEqualTo(103);
		long warm_ms = Long.MAX_VALUE;
		for (int i = 0; i < 3; i++) {
			long t1 = System.nanoTime();
			assertThat(qido(query)).hasSize(100);
			warm_ms = Math.min(warm_ms, (System.nanoTime() - t1) / 1_000_000);
		}
		assertThat(stored.size()).as("nothing read again").isEqualTo(103);
		System.out.printf("QIDO /studies?TableHeight=… over 103 candidate studies: first %d ms, then %d ms%n", cold_ms, warm_ms);
		assertThat(values(cold, "0020000D")).containsExactlyInAnyOrderElementsOf(ctStudies);
		assertThat(cold_ms).isLessThan(30_000);
		assertThat(warm_ms).isLessThan(5_000);
	}
}
