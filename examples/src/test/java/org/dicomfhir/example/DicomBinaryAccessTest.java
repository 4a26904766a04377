package org.dicomfhir.example;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.dicomfhir.hapi.access.DicomBinaryAccessInterceptor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 14: a DICOM Binary belongs to its patient, and writes are checked as writes. An
 * operator-style {@link AuthorizationInterceptor} (rules from test headers) grants Binary access
 * type-level, as HAPI has no Binary compartment; the plugin's owner check then decides by the
 * Binary's ImagingStudy. Requests without the test headers are not restricted, so other test
 * classes sharing this server are unaffected; the interceptor is unregistered after this class.
 *
 * <p>Headers: {@code X-Test-Patient: <Patient id>} reads (and with {@code X-Test-Role: writer}
 * writes) that patient's compartment, plus every Binary by type; {@code X-Test-Role: reader} alone
 * reads everything and may write and delete Binaries by type, but no ImagingStudy or Patient;
 * {@code X-Test-Role: blind-writer} alone may write every ImagingStudy, Patient and Binary but read
 * nothing (a feeder that uploads for every patient and must learn no one's data from a refusal).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomBinaryAccessTest extends AbstractServerTest {

	private static final String DICOM = "application/dicom";
	private static final String TAG = "http://dicomfhir.org/fhir/CodeSystem/tags%7Cdicom";

	private final String patientIdA = "QA" + (10 + (int) (Math.random() * 89));
	private final String patientIdB = "QB" + (10 + (int) (Math.random() * 89));
	private String studyA;
	private String studyB;
	private byte[] instanceA;
	private byte[] instanceB;
	private String binaryA;
	private String binaryB;
	private String patientA;
	private String patientB;
	private AuthorizationInterceptor authorization;

	private static byte[] instance(String thePatientId, String theStudy) {
		return DicomFixtures.replace(DicomFixtures.ctInstance(theStudy, DicomFixtures.newSeriesUid()), Map.of("1CT1", thePatientId));
	}

	@BeforeAll
	void storeOneStudyPerPatientAndRestrict() {
		studyA = DicomFixtures.newStudyUid();
		studyB = DicomFixtures.newStudyUid();
		instanceA = instance(patientIdA, studyA);
		instanceB = instance(patientIdB, studyB);
		assertThat(post("Binary", DICOM, instanceA).statusCode()).isEqualTo(201);
		assertThat(post("Binary", DICOM, instanceB).statusCode()).isEqualTo(201);
		binaryA = DicomFixtures.sha256(instanceA);
		binaryB = DicomFixtures.sha256(instanceB);
		patientA = subject(studyA);
		patientB = subject(studyB);

		authorization = new AuthorizationInterceptor() {
			@Override
			public List<IAuthRule> buildRuleList(RequestDetails theRequest) {
				String patient = theRequest instanceof SystemRequestDetails ? null : theRequest.getHeader("X-Test-Patient");
				String role = theRequest instanceof SystemRequestDetails ? null : theRequest.getHeader("X-Test-Role");
				if (patient == null && role == null) {
					return new RuleBuilder().allowAll("no test headers: not part of this test").build();
				}
				if (patient == null && "blind-writer".equals(role)) {
					return new RuleBuilder().allow("writes studies").write().resourcesOfType("ImagingStudy").withAnyId().andThen()
							.allow("creates patients").write().resourcesOfType("Patient").withAnyId().andThen()
							.allow("writes Binaries").write().resourcesOfType("Binary").withAnyId().andThen()
							.denyAll("reads nothing").build();
				}
				if (patient == null) {
					return "writer".equals(role)
							? new RuleBuilder().allowAll("writer of everything").build()
							: new RuleBuilder().allow("reader").read().allResources().withAnyId().andThen()
									// Binary by type, as a SMART server grants it: storing or deleting
									// an instance still needs the study, which this caller may only read
									.allow("Binary write by type").write().resourcesOfType("Binary").withAnyId().andThen()
									.allow("Binary delete by type").delete().resourcesOfType("Binary").withAnyId().andThen()
									.denyAll("reads only").build();
				}
				IdType owner = new IdType(patient);
				RuleBuilder rules = new RuleBuilder();
				rules.allow("reads the patient").read().allResources().inCompartment("Patient", owner).andThen()
						.allow("Binary by type").read().resourcesOfType("Binary").withAnyId();
				if ("writer".equals(role)) {
					rules.allow("writes the patient").write().allResources().inCompartment("Patient", owner).andThen()
							.allow("Binary write by type").write().resourcesOfType("Binary").withAnyId().andThen()
							.allow("Binary delete by type").delete().resourcesOfType("Binary").withAnyId();
				}
				return rules.denyAll("everything else").build();
			}
		};
		bean(RestfulServer.class).registerInterceptor(authorization);
	}

	@AfterAll
	void unrestrict() {
		bean(RestfulServer.class).unregisterInterceptor(authorization);
	}

	// ------------------------------------------------------------------ helpers

	private String subject(String theStudy) {
		JsonNode study = json(getJson("ImagingStudy/" + theStudy));
		return study.at("/subject/reference").asText();
	}

	private HttpResponse<byte[]> as(String thePatient, String theRole, HttpRequest.Builder theRequest) {
		if (thePatient != null) {
			theRequest.header("X-Test-Patient", thePatient);
		}
		if (theRole != null) {
			theRequest.header("X-Test-Role", theRole);
		}
		return send(theRequest.build());
	}

	private HttpResponse<byte[]> readAs(String thePatient, String theRole, String thePath) {
		return as(thePatient, theRole, request(thePath).header("Accept", FHIR_JSON).GET());
	}

	private HttpResponse<byte[]> postDicomAs(String thePatient, String theRole, byte[] theBytes) {
		return as(thePatient, theRole, request("Binary").header("Content-Type", DICOM).header("Accept", FHIR_JSON)
				.POST(HttpRequest.BodyPublishers.ofByteArray(theBytes)));
	}

	private HttpResponse<byte[]> stowAs(String thePatient, String theRole, byte[] theBody) {
		return as(thePatient, theRole, stowRequest("dicomweb/studies", List.of(theBody)));
	}

	private void assertNothingOf(HttpResponse<byte[]> theResponse, String... theSecrets) {
		String body = bodyText(theResponse);
		for (String secret : theSecrets) {
			assertThat(body).as("the answer names " + secret).doesNotContain(secret);
		}
	}

	private List<String> entryIds(HttpResponse<byte[]> theBundle) {
		List<String> ids = new ArrayList<>();
		json(theBundle).path("entry").forEach(e -> ids.add(e.at("/resource/id").asText()));
		return ids;
	}

	// ------------------------------------------------------------------ owner

	@Test
	void everyIngestPathGivesTheBinaryItsStudyAsSecurityContext() {
		Binary a = parse(Binary.class, getJson("Binary/" + binaryA));
		assertThat(a.getSecurityContext().getReference()).isEqualTo("ImagingStudy/" + studyA);

		// a client's securityContext on a DICOM Binary is replaced, never trusted
		String study = DicomFixtures.newStudyUid();
		byte[] bytes = instance(patientIdA, study);
		Binary forged = new Binary();
		forged.setContentType(DICOM);
		forged.setData(bytes);
		forged.setSecurityContext(new org.hl7.fhir.r4.model.Reference("ImagingStudy/" + studyB));
		HttpResponse<byte[]> r = postResource("Binary", forged);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(201);
		Binary stored = parse(Binary.class, getJson("Binary/" + DicomFixtures.sha256(bytes)));
		assertThat(stored.getSecurityContext().getReference()).isEqualTo("ImagingStudy/" + study);

		// STOW-RS
		String stowStudy = DicomFixtures.newStudyUid();
		byte[] stowed = instance(patientIdA, stowStudy);
		assertThat(send(stowRequest("dicomweb/studies", List.of(stowed)).build()).statusCode()).isEqualTo(200);
		stored = parse(Binary.class, getJson("Binary/" + DicomFixtures.sha256(stowed)));
		assertThat(stored.getSecurityContext().getReference()).isEqualTo("ImagingStudy/" + stowStudy);
	}

	/**
	 * The access check skips loading a search's results only when they cannot be Binaries (a
	 * search or read of another type without includes; each loaded them twice before). Checked
	 * with HAPI's own search builders and access details, so that a HAPI upgrade that changes them
	 * turns the shortcut off here (slow, still safe) rather than silently.
	 */
	@Test
	void theAccessCheckSkipsLoadingOnlyWhatCannotBeABinary() {
		var builders = bean(ca.uhn.fhir.jpa.dao.SearchBuilderFactory.class);
		var studies = new ca.uhn.fhir.jpa.interceptor.JpaPreResourceAccessDetails(List.of(),
				() -> builders.newSearchBuilder("ImagingStudy", ImagingStudy.class));
		var binaries = new ca.uhn.fhir.jpa.interceptor.JpaPreResourceAccessDetails(List.of(),
				() -> builders.newSearchBuilder("Binary", org.hl7.fhir.r4.model.Binary.class));
		ca.uhn.fhir.rest.server.servlet.ServletRequestDetails request = new ca.uhn.fhir.rest.server.servlet.ServletRequestDetails();
		request.setParameters(new java.util.HashMap<>());
		for (var operation : List.of(ca.uhn.fhir.rest.api.RestOperationTypeEnum.SEARCH_TYPE, ca.uhn.fhir.rest.api.RestOperationTypeEnum.READ)) {
			request.setRestOperationType(operation);
			assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(studies, request)).as(operation.name()).isTrue();
			assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(binaries, request)).as(operation.name()).isFalse();
		}
		request.setParameters(Map.of("_include", new String[] {"Provenance:entity"}));
		assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(studies, request)).as("_include").isFalse();
		request.setParameters(Map.of("_revinclude:iterate", new String[] {"*"}));
		assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(studies, request)).as("_revinclude").isFalse();
		request.setParameters(new java.util.HashMap<>());
		request.setRestOperationType(ca.uhn.fhir.rest.api.RestOperationTypeEnum.EXTENDED_OPERATION_INSTANCE);
		assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(studies, request)).as("$everything and other operations").isFalse();
		request.setRestOperationType(ca.uhn.fhir.rest.api.RestOperationTypeEnum.SEARCH_TYPE);
		assertThat(DicomBinaryAccessInterceptor.holdsNoBinary(new ca.uhn.fhir.rest.api.server.SimplePreResourceAccessDetails(List.of()), request))
				.as("a read's resources are at hand: checked").isFalse();
	}

	@Test
	void aPatientsCallerReadsItsOwnBinaryAndNotAnothers() {
		HttpResponse<byte[]> own = readAs(patientA, null, "Binary/" + binaryA);
		assertThat(own.statusCode()).as(bodyText(own)).isEqualTo(200);

		for (String path : List.of("Binary/" + binaryB, "Binary/" + binaryB + "/_history/1")) {
			HttpResponse<byte[]> other = readAs(patientA, null, path);
			assertThat(other.statusCode()).as(path + ": " + bodyText(other)).isEqualTo(403);
			assertNothingOf(other, patientB, patientIdB, studyB);
		}
		// the raw bytes too
		HttpResponse<byte[]> raw = as(patientA, null, request("Binary/" + binaryB).GET());
		assertThat(raw.statusCode()).isEqualTo(403);
	}

	@Test
	void aSearchForDicomBinariesReturnsOnlyTheCallersPatient() {
		HttpResponse<byte[]> r = readAs(patientA, null, "Binary?_tag=" + TAG + "&_id=" + binaryA + "," + binaryB);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(entryIds(r)).containsExactly(binaryA);
		// (the self link repeats the caller's own query; the entries and the count say nothing of B)
		assertThat(json(r).path("entry").toString()).doesNotContain(binaryB);
		assertThat(json(r).path("total").asInt(1)).isEqualTo(1);

		HttpResponse<byte[]> all = readAs(patientA, null, "Binary?_tag=" + TAG + "&_count=500");
		assertThat(all.statusCode()).as(bodyText(all)).isEqualTo(200);
		assertThat(entryIds(all)).contains(binaryA).doesNotContain(binaryB);
		assertThat(json(all).path("entry").toString()).doesNotContain(binaryB);
		if (json(all).has("total") && !bodyText(all).contains("\"next\"")) {
			assertThat(json(all).path("total").asInt()).as("the count is the caller's").isEqualTo(entryIds(all).size());
		}

		HttpResponse<byte[]> history = readAs(patientA, null, "Binary/" + binaryB + "/_history");
		assertThat(history.statusCode() == 403 || entryIds(history).isEmpty()).as(bodyText(history)).isTrue();
		assertNothingOf(history, patientB, patientIdB);
	}

	@Test
	void aPatientsWriterCannotOverwriteOrDeleteAnothersBinary() {
		HttpResponse<byte[]> put = as(patientA, "writer", request("Binary/" + binaryB).header("Content-Type", DICOM)
				.header("Accept", FHIR_JSON).PUT(HttpRequest.BodyPublishers.ofByteArray(instanceB)));
		assertThat(put.statusCode()).as(bodyText(put)).isEqualTo(403);
		assertNothingOf(put, patientB, patientIdB);

		HttpResponse<byte[]> delete = as(patientA, "writer", request("Binary/" + binaryB).header("Accept", FHIR_JSON).DELETE());
		assertThat(delete.statusCode()).as(bodyText(delete)).isEqualTo(403);
		assertNothingOf(delete, patientB, patientIdB);
		assertThat(getJson("Binary/" + binaryB).statusCode()).isEqualTo(200);
	}

	@Test
	void aPatientsWriterDeletesAndStoresAgainItsOwnInstance() {
		byte[] bytes = instance(patientIdA, studyA);
		String id = DicomFixtures.sha256(bytes);
		HttpResponse<byte[]> stored = postDicomAs(patientA, "writer", bytes);
		assertThat(stored.statusCode()).as(bodyText(stored)).isEqualTo(201);
		HttpResponse<byte[]> deleted = as(patientA, "writer", request("Binary/" + id).header("Accept", FHIR_JSON).DELETE());
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(200);
		// the deleted Binary's row is updated, not created: still the caller's own study, so allowed
		HttpResponse<byte[]> again = postDicomAs(patientA, "writer", bytes);
		assertThat(again.statusCode()).as(bodyText(again)).isEqualTo(201);
		assertThat(readAs(patientA, null, "Binary/" + id).statusCode()).isEqualTo(200);
	}

	// ------------------------------------------------------------------ writes are checked as writes

	@Test
	void aReadersStowOfGarbageIsForbiddenNotInvalid() {
		HttpResponse<byte[]> r = stowAs(null, "reader", "not DICOM at all".getBytes(StandardCharsets.US_ASCII));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		HttpResponse<byte[]> raw = postDicomAs(null, "reader", "not DICOM at all".getBytes(StandardCharsets.US_ASCII));
		assertThat(raw.statusCode()).as(bodyText(raw)).isEqualTo(403);
	}

	@Test
	void aReadersUploadIsForbiddenAndClaimsNothing() {
		byte[] bytes = instance(patientIdA, DicomFixtures.newStudyUid());
		HttpResponse<byte[]> r = postDicomAs(null, "reader", bytes);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		assertThat(getJson("Binary/" + DicomFixtures.sha256(bytes)).statusCode()).isEqualTo(404);
		HttpResponse<byte[]> stow = stowAs(null, "reader", bytes);
		assertThat(stow.statusCode()).as(bodyText(stow)).isEqualTo(403);

		// nothing was claimed: a writer stores the same instance at once
		HttpResponse<byte[]> writer = postDicomAs(null, "writer", bytes);
		assertThat(writer.statusCode()).as(bodyText(writer)).isEqualTo(201);
	}

	@Test
	void aReadersDicomwebDeleteIsForbiddenAndDeletesNothing() {
		String study = DicomFixtures.newStudyUid();
		byte[] bytes = instance(patientIdA, study);
		assertThat(post("Binary", DICOM, bytes).statusCode()).isEqualTo(201);
		HttpResponse<byte[]> r = as(null, "reader", request("dicomweb/studies/" + study).DELETE());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		r = as(patientA, null, request("dicomweb/studies/" + study).DELETE());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(403);
		assertThat(json(get("dicomweb/studies/" + study + "/instances", "application/dicom+json"))).hasSize(1);
		assertThat(getJson("Binary/" + DicomFixtures.sha256(bytes)).statusCode()).isEqualTo(200);
	}

	@Test
	void aPatientsWriterStoresIntoItsOwnStudyOnly() {
		HttpResponse<byte[]> other = stowAs(patientA, "writer", instance(patientIdB, studyB));
		assertThat(other.statusCode()).as(bodyText(other)).isEqualTo(403);
		assertNothingOf(other, patientB);
		HttpResponse<byte[]> raw = postDicomAs(patientA, "writer", instance(patientIdB, studyB));
		assertThat(raw.statusCode()).as(bodyText(raw)).isEqualTo(403);
		// a new study of a patient the caller may not write
		HttpResponse<byte[]> newStudy = stowAs(patientA, "writer", instance(patientIdB, DicomFixtures.newStudyUid()));
		assertThat(newStudy.statusCode()).as(bodyText(newStudy)).isEqualTo(403);

		HttpResponse<byte[]> own = stowAs(patientA, "writer", instance(patientIdA, studyA));
		assertThat(own.statusCode()).as(bodyText(own)).isEqualTo(200);
		HttpResponse<byte[]> ownRaw = postDicomAs(patientA, "writer", instance(patientIdA, studyA));
		assertThat(ownRaw.statusCode()).as(bodyText(ownRaw)).isEqualTo(201);
	}

	@Test
	void theConflictForOtherBytesDoesNotNameTheStoredBinary() {
		byte[] altered = DicomFixtures.replace(instanceA, Map.of("CompressedSamples^CT1", "CompressedSamples^CT2"));
		HttpResponse<byte[]> r = postDicomAs(patientA, "writer", altered);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(409);
		assertNothingOf(r, binaryA);
	}

	// ------------------------------------------------------------------ refusals name only what the caller may read

	/**
	 * An instance of B's study naming another patient: 409, and the refusal tells a caller who may
	 * write but not read B's study none of B's identity (PatientID, Patient id); the instance's own
	 * identity (what the caller sent) is named. A caller who may read B's study and Patient is told it.
	 */
	@Test
	void thePatientConflictNamesTheStudysPatientOnlyToWhoMayReadIt() {
		byte[] intoB = instance(patientIdA, studyB);
		HttpResponse<byte[]> raw = postDicomAs(null, "blind-writer", intoB);
		assertThat(raw.statusCode()).as(bodyText(raw)).isEqualTo(409);
		assertNothingOf(raw, patientIdB, patientB);
		assertThat(bodyText(raw)).contains(studyB).contains(patientIdA);

		HttpResponse<byte[]> stow = stowAs(null, "blind-writer", intoB);
		assertThat(stow.statusCode()).as(bodyText(stow)).isEqualTo(409);
		assertThat(json(stow).at("/00081198/Value/0/00081197/Value/0").asInt()).isEqualTo(0xC409);
		assertNothingOf(stow, patientIdB, patientB);

		HttpResponse<byte[]> reader = postDicomAs(null, "writer", intoB);
		assertThat(reader.statusCode()).as(bodyText(reader)).isEqualTo(409);
		assertThat(bodyText(reader)).contains(patientIdB).contains(patientIdA);
	}

	/**
	 * Two FHIR Patients with the identifier of an upload: 409 that names neither Patient to a caller
	 * who may create Patients but not read them; one who may read both is told which they are.
	 */
	@Test
	void theDuplicatePatientsConflictNamesThePatientsOnlyToWhoMayReadThem() {
		String pid = "QD" + (10 + (int) (Math.random() * 89)); // as long as the fixture's PatientID
		List<String> duplicates = new ArrayList<>();
		for (String family : List.of("DupOne", "DupTwo")) {
			org.hl7.fhir.r4.model.Patient p = new org.hl7.fhir.r4.model.Patient();
			p.addName().setFamily(family);
			p.addIdentifier().setSystem("urn:dicom:patient-id").setValue(pid);
			HttpResponse<byte[]> created = postResource("Patient", p);
			assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
			duplicates.add("Patient/" + new IdType(location(created)).getIdPart());
		}
		byte[] bytes = instance(pid, DicomFixtures.newStudyUid());

		HttpResponse<byte[]> raw = postDicomAs(null, "blind-writer", bytes);
		assertThat(raw.statusCode()).as(bodyText(raw)).isEqualTo(409);
		assertNothingOf(raw, duplicates.toArray(String[]::new));
		assertNothingOf(raw, "DupOne", "DupTwo");
		assertThat(bodyText(raw)).contains("More than one FHIR Patient");

		HttpResponse<byte[]> stow = stowAs(null, "blind-writer", bytes);
		assertThat(stow.statusCode()).as(bodyText(stow)).isEqualTo(409);
		assertNothingOf(stow, duplicates.toArray(String[]::new));

		HttpResponse<byte[]> reader = postDicomAs(null, "writer", bytes);
		assertThat(reader.statusCode()).as(bodyText(reader)).isEqualTo(409);
		assertThat(bodyText(reader)).contains(duplicates.get(0)).contains(duplicates.get(1));
	}
}
