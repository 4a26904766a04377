package org.dicomfhir.hapi.access;

import org.hl7.fhir.r4.model.Binary;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DicomBinaryKindTest {

	@Test
	void theContentTypeDecidesWithOrWithoutParameters() {
		assertTrue(DicomBinaryKind.isDicomContentType("application/dicom"));
		assertTrue(DicomBinaryKind.isDicomContentType(" Application/DICOM ; transfer-syntax=1.2.840.10008.1.2.1"));
		assertFalse(DicomBinaryKind.isDicomContentType(null));
		assertFalse(DicomBinaryKind.isDicomContentType("application/dicom+json"));
		assertFalse(DicomBinaryKind.isDicomContentType("application/octet-stream"));
	}

	@Test
	void aTaggedInstanceStaysDicomUnderAnotherContentType() {
		// an update that sends other bytes as octet-stream must still meet the immutability and access checks
		Binary binary = new Binary().setContentType("application/octet-stream");
		assertFalse(DicomBinaryKind.isDicom(binary));
		DicomBinaryKind.tagAsDicom(binary);
		assertTrue(DicomBinaryKind.isDicom(binary));
	}
}
