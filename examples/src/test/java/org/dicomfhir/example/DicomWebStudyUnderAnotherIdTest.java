package org.dicomfhir.example;

import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * WADO-RS and DELETE read a study by id first (the plugin stores each ImagingStudy under its Study
 * Instance UID) and fall back to the search by its DICOM identifier. The fallback is what finds an
 * ImagingStudy a client created through FHIR under an id of the server's choosing: it lists a
 * stored instance's Binary and carries its Study Instance UID only as an identifier.
 */
class DicomWebStudyUnderAnotherIdTest extends AbstractServerTest {

	@Test
	void aStudyCreatedUnderAnotherIdIsFoundByItsIdentifier_forRetrieveAndDelete() {
		StoredCt ct = storeCt();

		// A client's copy of the plugin's study, under a server-assigned id and another Study Instance UID
		ImagingStudy copy = parse(ImagingStudy.class, getJson("ImagingStudy/" + ct.study()));
		String otherStudy = DicomFixtures.newStudyUid();
		copy.setId((String) null);
		copy.getIdentifier().clear();
		copy.addIdentifier(new Identifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + otherStudy));
		HttpResponse<byte[]> created = postResource("ImagingStudy", copy);
		assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
		assertThat(location(created)).isNotEqualTo("ImagingStudy/" + otherStudy);
		assertThat(getJson("ImagingStudy/" + otherStudy).statusCode()).as("no study under that id").isEqualTo(404);

		String instance = "dicomweb/studies/" + otherStudy + "/series/" + ct.series() + "/instances/" + ct.sop();
		HttpResponse<byte[]> retrieved = get(instance, "application/dicom");
		assertThat(retrieved.statusCode()).as(bodyText(retrieved)).isEqualTo(200);
		assertThat(retrieved.body()).isEqualTo(ct.bytes());

		HttpResponse<byte[]> deleted = send(request("dicomweb/studies/" + otherStudy).DELETE().build());
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(204);
		assertThat(get("Binary/" + DicomFixtures.sha256(ct.bytes()), null).statusCode()).as("the instance it lists is deleted").isEqualTo(410);
	}
}
