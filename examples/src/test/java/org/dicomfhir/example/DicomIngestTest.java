package org.dicomfhir.example;

import org.dicomfhir.hapi.studywrite.StudyWriter;
import org.hl7.fhir.r4.model.Basic;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** DICOM uploaded as Binary, over real HTTP, into the real HAPI JPA server with the plugin. */
class DicomIngestTest extends AbstractServerTest {

	private static final String DICOM = "application/dicom";
	private static final String INSTANCE_BINARY = "http://dicomfhir.org/fhir/StructureDefinition/instance-binary";

	/** HAPI's filesystem store makes ten directories per random blob id; DICOM blobs share 4,096 leaves. */
	@Test
	void dicomBlobsShareFewDirectories() throws IOException {
		byte[] dicom = DicomFixtures.ctInstance(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid());
		String sha = DicomFixtures.sha256(dicom);
		assertThat(post("Binary", DICOM, dicom).statusCode()).isEqualTo(201);
		Path leaf = binstoreDir().resolve("d/i/c/o/m/f/h/" + sha.charAt(0) + "/" + sha.charAt(1) + "/" + sha.charAt(2));
		try (Stream<Path> files = Files.list(leaf)) {
			assertThat(files.map(f -> f.getFileName().toString()))
					.anyMatch(name -> name.startsWith("Binary_" + sha + "_dicomfh") && name.endsWith(".bin"));
		}
		assertThat(get("Binary/" + sha, DICOM).body()).isEqualTo(dicom);
	}

	@Test
	void rawUploadStoresContentAddressedBinaryAndDerivesImagingStudy() {
		String study = DicomFixtures.newStudyUid();
		byte[] dicom = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		String sha = DicomFixtures.sha256(dicom);

		HttpResponse<byte[]> created = post("Binary", DICOM, dicom);
		assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
		assertThat(location(created)).isEqualTo("Binary/" + sha);
		assertThat(created.headers().firstValue("Location")).as("a POST answers with Location").isPresent();
		// The answer says where the bytes went instead of echoing them back.
		assertThat(parse(OperationOutcome.class, created).getIssueFirstRep().getDiagnostics()).contains(sha);

		// The bytes come back unchanged.
		HttpResponse<byte[]> raw = get("Binary/" + sha, DICOM);
		assertThat(raw.statusCode()).isEqualTo(200);
		assertThat(raw.body()).isEqualTo(dicom);

		// Read your writes: the response was sent after the ImagingStudy listed the instance.
		ImagingStudy imagingStudy = readStudy(study);
		assertThat(imagingStudy.getIdentifierFirstRep().getSystem()).isEqualTo("urn:dicom:uid");
		assertThat(imagingStudy.getIdentifierFirstRep().getValue()).isEqualTo("urn:oid:" + study);
		assertThat(imagingStudy.getNumberOfSeries()).isEqualTo(1);
		assertThat(imagingStudy.getNumberOfInstances()).isEqualTo(1);
		assertThat(imagingStudy.getModalityFirstRep().getCode()).isEqualTo("CT");
		assertThat(binaryIds(imagingStudy)).containsExactly(sha);

		Patient patient = parse(Patient.class, getJson(imagingStudy.getSubject().getReference()));
		assertThat(patient.getIdentifierFirstRep().getValue()).isEqualTo("1CT1");
		assertThat(patient.getNameFirstRep().getFamily()).isEqualToIgnoringCase("CompressedSamples");

		Endpoint endpoint = parse(Endpoint.class, getJson(imagingStudy.getEndpointFirstRep().getReference()));
		assertThat(endpoint.getConnectionType().getCode()).isEqualTo("dicom-wado-rs");
		assertThat(endpoint.getAddress()).isEqualTo(baseUrl() + "/dicomweb");

		Bundle provenance = parse(Bundle.class, getJson("Provenance?target=ImagingStudy/" + study));
		assertThat(provenance.getEntry()).isNotEmpty();
		// Its source reference is indexed: the lineage of an instance can be searched by its Binary.
		Bundle bySource = parse(Bundle.class, getJson("Provenance?entity=Binary/" + sha));
		assertThat(bySource.getEntry()).hasSize(1);
		assertThat(((Provenance) bySource.getEntryFirstRep().getResource()).getTargetFirstRep().getReference())
				.startsWith("ImagingStudy/" + study);
	}

	@Test
	void uploadAnswersBeforeItsStudyWriteAndTheNextReadWaitsForIt() {
		StudyWriter writer = bean(StudyWriter.class);
		getJson("metadata"); // any read settles what earlier tests left pending
		int writesBefore = writer.writeCount();
		String study = DicomFixtures.newStudyUid();
		byte[] dicom = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());

		assertThat(post("Binary", "application/dicom", dicom).statusCode()).isEqualTo(201);
		int writesWhenAnswered = writer.writeCount();
		ImagingStudy imagingStudy = parse(ImagingStudy.class, getJson("ImagingStudy/" + study));

		assertThat(writesWhenAnswered).as("the upload did not wait for its study write").isEqualTo(writesBefore);
		assertThat(binaryIds(imagingStudy)).containsExactly(DicomFixtures.sha256(dicom));
		assertThat(writer.writeCount()).isGreaterThan(writesBefore);
	}

	@Test
	void sameBytesTwiceAreOneBinaryAndNoNewVersions() {
		String study = DicomFixtures.newStudyUid();
		byte[] dicom = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		String sha = DicomFixtures.sha256(dicom);
		assertThat(post("Binary", DICOM, dicom).statusCode()).isEqualTo(201);
		String studyVersion = readStudy(study).getMeta().getVersionId();

		HttpResponse<byte[]> again = post("Binary", DICOM, dicom);
		assertThat(again.statusCode()).as(bodyText(again)).isEqualTo(200);
		assertThat(location(again)).isEqualTo("Binary/" + sha);

		Binary binary = parse(Binary.class, getJson("Binary/" + sha));
		assertThat(binary.getMeta().getVersionId()).isEqualTo("1");
		assertThat(readStudy(study).getMeta().getVersionId()).isEqualTo(studyVersion);
	}

	@Test
	void fhirJsonBinaryIsContentAddressedToo() {
		String study = DicomFixtures.newStudyUid();
		byte[] dicom = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		Binary binary = new Binary();
		binary.setContentType(DICOM).setContent(dicom);

		HttpResponse<byte[]> created = postResource("Binary", binary);
		assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
		assertThat(location(created)).isEqualTo("Binary/" + DicomFixtures.sha256(dicom));
		assertThat(readStudy(study).getNumberOfInstances()).isEqualTo(1);
	}

	@Test
	void transactionBundleEntriesAreRewrittenAndReferencesFollow() {
		DicomFixtures.NewSeries series = new DicomFixtures.NewSeries();
		String study = series.study();
		byte[] first = series.instance();
		byte[] second = series.instance();

		Bundle bundle = new Bundle().setType(Bundle.BundleType.TRANSACTION);
		bundle.addEntry().setFullUrl("urn:uuid:6f1c0b8e-0000-4000-8000-000000000001")
				.setResource(dicomBinary(first))
				.getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Binary");
		bundle.addEntry().setFullUrl("urn:uuid:6f1c0b8e-0000-4000-8000-000000000002")
				.setResource(dicomBinary(second))
				.getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Binary");
		Basic basic = new Basic();
		basic.getCode().setText("points at the first instance");
		basic.addExtension(new Extension("http://example.org/instance", new Reference("urn:uuid:6f1c0b8e-0000-4000-8000-000000000001")));
		bundle.addEntry().setFullUrl("urn:uuid:6f1c0b8e-0000-4000-8000-000000000003")
				.setResource(basic)
				.getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Basic");

		HttpResponse<byte[]> response = postResource("", bundle);
		assertThat(response.statusCode()).as(bodyText(response)).isEqualTo(200);
		Bundle result = parse(Bundle.class, response);
		assertThat(result.getEntry().get(0).getResponse().getLocation()).startsWith("Binary/" + DicomFixtures.sha256(first));
		assertThat(result.getEntry().get(1).getResponse().getLocation()).startsWith("Binary/" + DicomFixtures.sha256(second));

		Basic stored = parse(Basic.class, getJson(result.getEntry().get(2).getResponse().getLocation()));
		assertThat(((Reference) stored.getExtension().get(0).getValue()).getReference())
				.isEqualTo("Binary/" + DicomFixtures.sha256(first));
		assertThat(binaryIds(readStudy(study)))
				.containsExactlyInAnyOrder(DicomFixtures.sha256(first), DicomFixtures.sha256(second));
	}

	@Test
	void badInputIsRefusedWithAnOperationOutcomeAndStoresNothing() {
		String study = DicomFixtures.newStudyUid();
		byte[] good = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		assertThat(post("Binary", DICOM, good).statusCode()).isEqualTo(201);
		String versionBefore = readStudy(study).getMeta().getVersionId();

		byte[] notDicom = "this is not a DICOM file, just some text".getBytes(StandardCharsets.UTF_8);
		byte[] truncated = Arrays.copyOf(good, 1000);
		// Same length as the original UID but malformed (a component with a leading zero).
		String badUid = "1.2.03" + study.substring(6);
		byte[] badStudyUid = DicomFixtures.replace(DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid()), Map.of(study, badUid));

		for (byte[] bad : List.of(notDicom, truncated, badStudyUid, new byte[0])) {
			HttpResponse<byte[]> refused = post("Binary", DICOM, bad);
			assertThat(refused.statusCode()).as(bodyText(refused)).isBetween(400, 499);
			OperationOutcome outcome = parse(OperationOutcome.class, refused);
			assertThat(outcome.getIssueFirstRep().getDiagnostics()).isNotBlank();
			assertThat(get("Binary/" + DicomFixtures.sha256(bad), FHIR_JSON).statusCode()).isEqualTo(404);
		}
		assertThat(readStudy(study).getMeta().getVersionId()).isEqualTo(versionBefore);
	}

	@Test
	void otherBytesUnderAStoredSopInstanceUidAreAConflict() {
		String study = DicomFixtures.newStudyUid();
		byte[] original = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		assertThat(post("Binary", DICOM, original).statusCode()).isEqualTo(201);
		// Same UIDs, other bytes (another patient name of the same length).
		byte[] altered = DicomFixtures.replace(original, Map.of("CompressedSamples^CT1", "CompressedSamples^CT2"));

		HttpResponse<byte[]> conflict = post("Binary", DICOM, altered);
		assertThat(conflict.statusCode()).as(bodyText(conflict)).isEqualTo(409);
		assertThat(binaryIds(readStudy(study))).containsExactly(DicomFixtures.sha256(original));
	}

	/** As above, once the study lists the instance (the conflict is then found in the database's index). */
	@Test
	void otherBytesUnderASopInstanceUidAlreadyListedAreAConflict() throws InterruptedException {
		String study = DicomFixtures.newStudyUid();
		byte[] original = DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid());
		assertThat(post("Binary", DICOM, original).statusCode()).isEqualTo(201);
		assertThat(binaryIds(readStudy(study))).containsExactly(DicomFixtures.sha256(original));
		byte[] altered = DicomFixtures.replace(original, Map.of("CompressedSamples^CT1", "CompressedSamples^CT2"));

		// The upload's in-memory claim of the SOP Instance UID ends just after its study write, which
		// can be a moment after the response: until then the conflict is found in the claim ("is
		// being stored right now", also a 409 with nothing stored). Poll until it is found in the index.
		HttpResponse<byte[]> conflict = post("Binary", DICOM, altered);
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
		while (conflict.statusCode() == 409 && bodyText(conflict).contains("is being stored right now")
				&& System.nanoTime() < deadline) {
			Thread.sleep(20);
			conflict = post("Binary", DICOM, altered);
		}
		assertThat(conflict.statusCode()).as(bodyText(conflict)).isEqualTo(409);
		assertThat(bodyText(conflict)).contains("already stored with other bytes");
		assertThat(binaryIds(readStudy(study))).containsExactly(DicomFixtures.sha256(original));
	}

	@Test
	void twoObjectsRacingForOneSopInstanceUidStoreOnlyOne() throws Exception {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		ExecutorService clients = Executors.newFixedThreadPool(2);
		try {
			for (int round = 0; round < 10; round++) {
				byte[] first = DicomFixtures.ctInstance(study, series);
				byte[] second = DicomFixtures.replace(first, Map.of("CompressedSamples^CT1", "CompressedSamples^CT2"));
				Future<HttpResponse<byte[]>> a = clients.submit(() -> post("Binary", DICOM, first));
				Future<HttpResponse<byte[]>> b = clients.submit(() -> post("Binary", DICOM, second));
				List<Integer> codes = new java.util.ArrayList<>(List.of(a.get().statusCode(), b.get().statusCode()));
				java.util.Collections.sort(codes);
				assertThat(codes).as("round %d: %s / %s", round, bodyText(a.get()), bodyText(b.get())).containsExactly(201, 409);
				byte[] loser = a.get().statusCode() == 409 ? first : second;
				assertThat(get("Binary/" + DicomFixtures.sha256(loser), FHIR_JSON).statusCode()).isEqualTo(404);
			}
		} finally {
			clients.shutdown();
		}
		ImagingStudy imagingStudy = readStudy(study);
		assertThat(imagingStudy.getNumberOfInstances()).isEqualTo(10);
		assertThat(binaryIds(imagingStudy)).hasSize(10).doesNotHaveDuplicates();
	}

	@Test
	void putUnderAnIdThatIsNotTheHashIsRefused() {
		byte[] dicom = DicomFixtures.ctInstance(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid());
		HttpResponse<byte[]> refused = put("Binary/not-the-hash", DICOM, dicom);
		assertThat(refused.statusCode()).as(bodyText(refused)).isEqualTo(400);
		assertThat(bodyText(refused)).contains(DicomFixtures.sha256(dicom));
	}

	@Test
	void otherContentTypesPassThroughUntouched() {
		byte[] text = "plain text, not ours".getBytes(StandardCharsets.UTF_8);
		HttpResponse<byte[]> created = post("Binary", "text/plain", text);
		assertThat(created.statusCode()).isEqualTo(201);
		assertThat(location(created)).doesNotContain(DicomFixtures.sha256(text));
		assertThat(get(location(created), "text/plain").body()).isEqualTo(text);
	}

	@Test
	void deletingBinariesUpdatesAndFinallyRemovesTheImagingStudy() {
		DicomFixtures.NewSeries series = new DicomFixtures.NewSeries();
		String study = series.study();
		byte[] first = series.instance();
		byte[] second = series.instance();
		assertThat(post("Binary", DICOM, first).statusCode()).isEqualTo(201);
		assertThat(post("Binary", DICOM, second).statusCode()).isEqualTo(201);
		assertThat(readStudy(study).getNumberOfInstances()).isEqualTo(2);

		HttpResponse<byte[]> deleted = delete("Binary/" + DicomFixtures.sha256(first));
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(200);
		ImagingStudy afterOne = readStudy(study);
		assertThat(afterOne.getNumberOfInstances()).isEqualTo(1);
		assertThat(binaryIds(afterOne)).containsExactly(DicomFixtures.sha256(second));

		// The same bytes again bring the deleted Binary back (HAPI keeps its row: not a new insert).
		HttpResponse<byte[]> again = post("Binary", DICOM, first);
		assertThat(again.statusCode()).as(bodyText(again)).isEqualTo(201);
		assertThat(again.headers().firstValue("Location").orElseThrow()).contains("Binary/" + DicomFixtures.sha256(first) + "/_history/3");
		assertThat(binaryIds(readStudy(study))).containsExactlyInAnyOrder(DicomFixtures.sha256(first), DicomFixtures.sha256(second));

		assertThat(delete("Binary/" + DicomFixtures.sha256(first)).statusCode()).isEqualTo(200);
		assertThat(delete("Binary/" + DicomFixtures.sha256(second)).statusCode()).isEqualTo(200);
		assertThat(getJson("ImagingStudy/" + study).statusCode()).isIn(404, 410);
	}

	private static Binary dicomBinary(byte[] theBytes) {
		Binary binary = new Binary();
		binary.setContentType(DICOM);
		binary.setContent(theBytes);
		return binary;
	}

	private ImagingStudy readStudy(String theStudyUid) {
		HttpResponse<byte[]> response = getJson("ImagingStudy/" + theStudyUid);
		assertThat(response.statusCode()).as(bodyText(response)).isEqualTo(200);
		return parse(ImagingStudy.class, response);
	}

	static List<String> binaryIds(ImagingStudy theStudy) {
		return theStudy.getSeries().stream()
				.flatMap(s -> s.getInstance().stream())
				.map(i -> ((Reference) i.getExtensionByUrl(INSTANCE_BINARY).getValue()).getReferenceElement().getIdPart())
				.toList();
	}
}
