package org.dicomfhir.example;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import org.dicomfhir.hapi.ingest.StudyIndexReconciler;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A DICOM Binary stored but missing from its ImagingStudy (what a crash between the two commits
 * leaves) is listed again by the reconciliation the plugin runs at start-up.
 */
class ReconciliationTest extends AbstractServerTest {

	@Test
	void reconciliationListsAStoredBinaryTheStudyLost() {
		Instant before = Instant.now().minusSeconds(1);
		Uploaded uploaded = uploadTwo();

		// Make the gap: the study forgets one instance, the Binary stays.
		forgetInStudy(uploaded.study(), uploaded.otherSha());

		int reindexed = bean(StudyIndexReconciler.class).reconcileSince(before);

		assertThat(reindexed).isGreaterThanOrEqualTo(2);
		ImagingStudy repaired = parse(ImagingStudy.class, getJson("ImagingStudy/" + uploaded.study()));
		assertThat(DicomIngestTest.binaryIds(repaired)).containsExactlyInAnyOrder(DicomFixtures.sha256(uploaded.kept()), uploaded.otherSha());
		assertThat(repaired.getNumberOfInstances()).isEqualTo(2);
	}

	/**
	 * What SIGKILL between the Binary's commit and its study write leaves: the Binary and its
	 * PENDING ledger row, and a study that does not list it. The reconciler's pass over unfinished
	 * rows (what start-up runs, on any node) lists it and marks the row LISTED.
	 */
	@Test
	void aPendingLedgerRowIsListedByTheReconciler() {
		Uploaded uploaded = uploadTwo();
		forgetInStudy(uploaded.study(), uploaded.otherSha());
		InstanceLedger ledger = bean(InstanceLedger.class);
		InstanceLedger.Row row = inTransaction(() -> ledger.findByBinary(uploaded.otherSha(), uploaded.study()));
		String lostSop = row.sopInstanceUid();
		inTransactionDo(() -> ledger.repoint(lostSop, uploaded.study(), uploaded.otherSha(), row.patientSystem(), row.patientValue()));
		assertThat(inTransaction(() -> ledger.find(lostSop)).state()).isEqualTo(InstanceLedger.State.PENDING);

		int handed = bean(StudyIndexReconciler.class).reconcileUnfinished(
				EnumSet.of(InstanceLedger.State.PENDING, InstanceLedger.State.REMOVING, InstanceLedger.State.FAILED),
				System.currentTimeMillis() + 1);

		assertThat(handed).isGreaterThanOrEqualTo(1);
		ImagingStudy repaired = parse(ImagingStudy.class, getJson("ImagingStudy/" + uploaded.study()));
		assertThat(DicomIngestTest.binaryIds(repaired)).containsExactlyInAnyOrder(DicomFixtures.sha256(uploaded.kept()), uploaded.otherSha());
		assertThat(inTransaction(() -> ledger.find(lostSop)).state()).isEqualTo(InstanceLedger.State.LISTED);
	}

	/** A REMOVING row (the Binary's delete committed, the study write did not) is taken out of its study. */
	@Test
	void aRemovingLedgerRowIsDroppedFromItsStudy() {
		Uploaded uploaded = uploadTwo();
		InstanceLedger ledger = bean(InstanceLedger.class);
		String goneSop = inTransaction(() -> ledger.findByBinary(uploaded.otherSha(), null)).sopInstanceUid();
		inTransactionDo(() -> ledger.markRemoving(goneSop, uploaded.otherSha()));

		bean(StudyIndexReconciler.class).reconcileUnfinished(EnumSet.of(InstanceLedger.State.REMOVING), System.currentTimeMillis() + 1);

		ImagingStudy after = parse(ImagingStudy.class, getJson("ImagingStudy/" + uploaded.study()));
		assertThat(DicomIngestTest.binaryIds(after)).containsExactly(DicomFixtures.sha256(uploaded.kept()));
		assertThat(inTransaction(() -> ledger.find(goneSop))).isNull();
	}

	/**
	 * A study write that fails for good (two FHIR Patients appeared with the identity of a new
	 * study after its upload was accepted) marks the instance FAILED with the reason, which
	 * $dicom-status shows; once the duplicate is gone, the reconciler's retry lists it.
	 */
	@Test
	void aStudyWriteThatFailsForGoodIsReportedAndHealsOnceFixed() {
		String patientId = "F" + String.format("%03d", java.util.concurrent.ThreadLocalRandom.current().nextInt(1000));
		String study = DicomFixtures.newStudyUid();
		byte[] instance = DicomFixtures.replace(DicomFixtures.ctInstance(study, DicomFixtures.newSeriesUid()), java.util.Map.of("1CT1", patientId));
		String sha = DicomFixtures.sha256(instance);
		assertThat(post("Binary", "application/dicom", instance).statusCode()).isEqualTo(201);
		// Through the DAO, not REST: a REST request would first wait for the pending study write
		// (the read barrier), and the write lingers (dicomfhir.study-write-linger-millis: 10 s in tests).
		var patients = bean(ca.uhn.fhir.jpa.api.dao.DaoRegistry.class).getResourceDao(org.hl7.fhir.r4.model.Patient.class);
		List<String> duplicates = new java.util.ArrayList<>();
		for (int i = 0; i < 2; i++) {
			org.hl7.fhir.r4.model.Patient p = new org.hl7.fhir.r4.model.Patient();
			p.addIdentifier().setSystem("urn:dicom:patient-id").setValue(patientId);
			duplicates.add(patients.create(p, new ca.uhn.fhir.rest.api.server.SystemRequestDetails()).getId().toUnqualifiedVersionless().getValue());
		}

		// the index lookup a new study's upload asks first sees both (the exact search then names them)
		var lookup = bean(org.dicomfhir.hapi.lookup.PatientIdentifierLookup.class);
		assertThat(lookup.patientsWithIdentifier("urn:dicom:patient-id", patientId)).isEqualTo(2);

		org.hl7.fhir.r4.model.Parameters status = parse(org.hl7.fhir.r4.model.Parameters.class, getJson("$dicom-status"));
		assertThat(((org.hl7.fhir.r4.model.IntegerType) status.getParameterValue("failed")).getValue()).isGreaterThanOrEqualTo(1);
		String reasons = status.getParameter().stream().filter(p -> "failure".equals(p.getName()))
				.flatMap(p -> p.getPart().stream()).map(part -> String.valueOf(part.getValue())).reduce("", String::concat);
		assertThat(reasons).contains("Binary/" + sha).contains("More than one FHIR Patient").contains(duplicates.get(0));
		assertThat(get("ImagingStudy/" + study, FHIR_JSON).statusCode()).isEqualTo(404);

		patients.delete(new org.hl7.fhir.r4.model.IdType(duplicates.get(1)), new ca.uhn.fhir.rest.api.server.SystemRequestDetails());
		assertThat(lookup.patientsWithIdentifier("urn:dicom:patient-id", patientId)).as("a deleted Patient leaves the index").isEqualTo(1);
		bean(StudyIndexReconciler.class).reconcileUnfinished(EnumSet.of(InstanceLedger.State.FAILED), System.currentTimeMillis() + 1);

		ImagingStudy healed = parse(ImagingStudy.class, getJson("ImagingStudy/" + study));
		assertThat(DicomIngestTest.binaryIds(healed)).containsExactly(sha);
		assertThat(healed.getSubject().getReference()).isEqualTo(duplicates.get(0));
	}

	/** A new study of two CT instances in one series: the one a test keeps, and the other's Binary id. */
	private record Uploaded(String study, byte[] kept, String otherSha) {}

	/** Two new CT instances of one new series of a new study, both uploaded as Binary (201). */
	private Uploaded uploadTwo() {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		List<byte[]> out = List.of(DicomFixtures.ctInstance(study, series), DicomFixtures.ctInstance(study, series));
		for (byte[] instance : out) {
			assertThat(post("Binary", "application/dicom", instance).statusCode()).isEqualTo(201);
		}
		return new Uploaded(study, out.get(0), DicomFixtures.sha256(out.get(1)));
	}

	/**
	 * On H2 the ledger keeps two B-trees besides its rows (key and study): each more is one more
	 * page every upload's commit writes. A store made by an earlier version, with indexes by Binary
	 * and by state, loses them at start-up, and a Binary's row is still found.
	 */
	@Test
	void theLedgerIndexesOnlyWhatAnUploadLooksUpAndDropsOlderIndexes() throws Exception {
		javax.sql.DataSource dataSource = bean(javax.sql.DataSource.class);
		try (java.sql.Connection c = dataSource.getConnection(); java.sql.Statement s = c.createStatement()) {
			s.execute("CREATE INDEX IF NOT EXISTS DFH_INSTANCE_BINARY ON DFH_INSTANCE (BINARY_ID)");
			s.execute("CREATE INDEX IF NOT EXISTS DFH_INSTANCE_STATE ON DFH_INSTANCE (STATE, CHANGED_MILLIS)");
		}
		bean(InstanceLedger.class).createTableIfMissing();
		java.util.Set<String> indexes = new java.util.TreeSet<>();
		try (java.sql.Connection c = dataSource.getConnection();
				java.sql.ResultSet r = c.getMetaData().getIndexInfo(null, null, "DFH_INSTANCE", false, false)) {
			while (r.next()) {
				indexes.add(r.getString("INDEX_NAME"));
			}
		}
		assertThat(indexes).hasSize(2).contains("DFH_INSTANCE_STUDY").noneMatch(i -> i.contains("BINARY") || i.contains("STATE"));

		Uploaded uploaded = uploadTwo();
		String study = uploaded.study();
		String sha = DicomFixtures.sha256(uploaded.kept());
		InstanceLedger ledger = bean(InstanceLedger.class);
		assertThat(inTransaction(() -> ledger.findByBinary(sha, study)).studyInstanceUid()).isEqualTo(study);
		assertThat(inTransaction(() -> ledger.findByBinary(sha, null)).studyInstanceUid()).isEqualTo(study);
		assertThat(inTransaction(() -> ledger.findByBinary(sha, DicomFixtures.newStudyUid()))).isNull();
	}

	/** Makes the gap a crash leaves: the study forgets the instance of Binary {@code theSha}, the Binary stays. */
	private void forgetInStudy(String theStudy, String theSha) {
		ImagingStudy imagingStudy = parse(ImagingStudy.class, getJson("ImagingStudy/" + theStudy));
		imagingStudy.getSeriesFirstRep().getInstance().removeIf(i -> DicomIngestTest.binaryIds(single(i)).contains(theSha));
		imagingStudy.setNumberOfInstances(imagingStudy.getSeriesFirstRep().getInstance().size());
		imagingStudy.getSeriesFirstRep().setNumberOfInstances(imagingStudy.getSeriesFirstRep().getInstance().size());
		HttpResponse<byte[]> edited = put("ImagingStudy/" + theStudy, FHIR_JSON, encode(imagingStudy).getBytes(StandardCharsets.UTF_8));
		assertThat(edited.statusCode()).as(bodyText(edited)).isEqualTo(200);
		assertThat(DicomIngestTest.binaryIds(parse(ImagingStudy.class, getJson("ImagingStudy/" + theStudy)))).doesNotContain(theSha);
	}

	private <T> T inTransaction(java.util.function.Supplier<T> theWork) {
		return bean(IHapiTransactionService.class).withSystemRequest().execute(theWork::get);
	}

	private void inTransactionDo(Runnable theWork) {
		inTransaction(() -> {
			theWork.run();
			return null;
		});
	}

	private static ImagingStudy single(ImagingStudy.ImagingStudySeriesInstanceComponent theInstance) {
		ImagingStudy wrapper = new ImagingStudy();
		wrapper.addSeries().addInstance(theInstance.copy());
		return wrapper;
	}
}
