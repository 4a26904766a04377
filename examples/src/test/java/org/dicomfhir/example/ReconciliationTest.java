package org.dicomfhir.example;

import org.dicomfhir.hapi.StudyIndexReconciler;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A DICOM Binary stored but missing from its ImagingStudy (what a crash between the two commits
 * leaves) is listed again by the reconciliation the plugin runs at start-up.
 */
class ReconciliationTest extends AbstractServerTest {

	@Test
	void reconciliationListsAStoredBinaryTheStudyLost() {
		Instant before = Instant.now().minusSeconds(1);
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		byte[] kept = DicomFixtures.ctInstance(study, series);
		byte[] lost = DicomFixtures.ctInstance(study, series);
		assertThat(post("Binary", "application/dicom", kept).statusCode()).isEqualTo(201);
		assertThat(post("Binary", "application/dicom", lost).statusCode()).isEqualTo(201);

		// Make the gap: the study forgets one instance, the Binary stays.
		ImagingStudy imagingStudy = parse(ImagingStudy.class, getJson("ImagingStudy/" + study));
		String lostSha = DicomFixtures.sha256(lost);
		imagingStudy.getSeriesFirstRep().getInstance().removeIf(i -> DicomIngestTest.binaryIds(single(i)).contains(lostSha));
		imagingStudy.setNumberOfInstances(1);
		imagingStudy.getSeriesFirstRep().setNumberOfInstances(1);
		HttpResponse<byte[]> edited = put("ImagingStudy/" + study, FHIR_JSON, encode(imagingStudy).getBytes(StandardCharsets.UTF_8));
		assertThat(edited.statusCode()).as(bodyText(edited)).isEqualTo(200);
		assertThat(DicomIngestTest.binaryIds(parse(ImagingStudy.class, getJson("ImagingStudy/" + study)))).doesNotContain(lostSha);

		int reindexed = bean(StudyIndexReconciler.class).reconcileSince(before);

		assertThat(reindexed).isGreaterThanOrEqualTo(2);
		ImagingStudy repaired = parse(ImagingStudy.class, getJson("ImagingStudy/" + study));
		assertThat(DicomIngestTest.binaryIds(repaired)).containsExactlyInAnyOrder(DicomFixtures.sha256(kept), lostSha);
		assertThat(repaired.getNumberOfInstances()).isEqualTo(2);
	}

	private static ImagingStudy single(ImagingStudy.ImagingStudySeriesInstanceComponent theInstance) {
		ImagingStudy wrapper = new ImagingStudy();
		wrapper.addSeries().addInstance(theInstance.copy());
		return wrapper;
	}
}
