package org.dicomfhir.hapi.ingest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** How a DICOM Binary is addressed: its id is the SHA-256 of its bytes (what makes it DICOM: {@link org.dicomfhir.hapi.access.DicomBinaryKind}). */
final class DicomBinaries {

	private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

	private DicomBinaries() {}

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
