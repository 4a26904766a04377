package org.dicomfhir.hapi.access;

import org.dicomfhir.bridge.CoreConstants;
import org.hl7.fhir.r4.model.Binary;

import java.util.Locale;

/**
 * What makes a Binary a DICOM instance, decided in one place for ingest and access alike: its
 * content type is {@code application/dicom} (parameters such as transfer-syntax allowed), or the
 * storage hook tagged it as one. The tag keeps a stored instance DICOM even if a later update
 * sends another content type, so that update is refused rather than slipping past the checks.
 */
public final class DicomBinaryKind {

	public static final String CONTENT_TYPE = "application/dicom";

	private DicomBinaryKind() {}

	/** True for {@code application/dicom} with or without parameters. */
	public static boolean isDicomContentType(String theContentType) {
		return theContentType != null
				&& CONTENT_TYPE.equals(theContentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT));
	}

	/** True for a DICOM content type or a Binary the plugin tagged as a DICOM instance. */
	public static boolean isDicom(Binary theBinary) {
		return isDicomContentType(theBinary.getContentType())
				|| theBinary.getMeta().getTag(CoreConstants.DICOM_BINARY_TAG_SYSTEM, CoreConstants.DICOM_BINARY_TAG_CODE) != null;
	}

	/** Marks an accepted instance, so that {@link #isDicom} holds whatever content type it is later sent with. */
	public static void tagAsDicom(Binary theBinary) {
		theBinary.getMeta().addTag(CoreConstants.DICOM_BINARY_TAG_SYSTEM, CoreConstants.DICOM_BINARY_TAG_CODE, "DICOM instance");
	}
}
