package org.dicomfhir.hapi.ingest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;

/** What makes a Binary a DICOM instance, and how it is addressed. */
final class DicomBinaries {

	static final String CONTENT_TYPE = "application/dicom";
	private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

	private DicomBinaries() {}

	/** True for {@code application/dicom} with or without parameters (e.g. transfer-syntax). */
	static boolean isDicomContentType(String theContentType) {
		if (theContentType == null) {
			return false;
		}
		String mime = theContentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
		return CONTENT_TYPE.equals(mime);
	}

	/** A content-addressed id: 64 lowercase hex characters. */
	static boolean isContentAddress(String theIdPart) {
		return theIdPart != null && SHA256_HEX.matcher(theIdPart).matches();
	}

	/**
	 * The Binary id of these bytes. Computed in Java only to route the request before the bytes reach
	 * the storage layer, where the Rust core hashes them again and the two must agree.
	 */
	static String contentAddress(byte[] theBytes) {
		try {
			return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(theBytes));
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException("SHA-256 is required by every Java platform", e);
		}
	}
}
