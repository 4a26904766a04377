package org.dicomfhir.hapi.dicomweb;

import org.dicomfhir.bridge.TransferSyntax;

import java.util.ArrayList;
import java.util.List;

/**
 * WADO-RS Accept negotiation (PS3.18 §8.7): what a retrieve sends, as a pure function of the
 * Accept header and of how the instance is stored. Which transfer syntaxes are native, compressed
 * and with which media type is the core's table ({@link TransferSyntax}).
 */
final class AcceptNegotiation {

	/** {@code transfer-syntax=*}: as stored. */
	static final String ANY_TS = "*";

	private AcceptNegotiation() {
	}

	/** What the client accepts for instances. */
	record InstanceChoice(boolean multipart, String transferSyntax) {}

	/**
	 * What the client accepts for frames and bulk data; {@code decode}: the stored compressed
	 * frames are to be decoded to Explicit VR Little Endian.
	 */
	record BulkChoice(boolean multipart, String mediaType, String transferSyntax, boolean decode) {
		BulkChoice(boolean theMultipart, String theMediaType, String theTransferSyntax) {
			this(theMultipart, theMediaType, theTransferSyntax, false);
		}
	}

	/**
	 * Accept negotiation for instances (PS3.18 §8.7.3). Absent transfer-syntax is served as
	 * stored, like {@code *} (no decoding on the default path); Explicit VR Little Endian is
	 * transcoded, any other syntax than the stored one 406 (see docs/dicomweb.md).
	 */
	static InstanceChoice instances(String theAccept, boolean theSingleInstance) {
		if (theAccept == null || theAccept.isBlank()) {
			return new InstanceChoice(true, null);
		}
		List<String> refused = new ArrayList<>();
		for (MediaRange accepted : MediaRange.parseAll(theAccept)) {
			String mime = accepted.mime();
			String type = accepted.type();
			String ts = accepted.transferSyntax();
			if ("*/*".equals(mime) || "multipart/*".equals(mime)) {
				return new InstanceChoice(true, null);
			}
			if ("multipart/related".equals(mime) && (type == null || "application/dicom".equals(type))) {
				return new InstanceChoice(true, ts);
			}
			if ("application/dicom".equals(mime)) {
				if (theSingleInstance) {
					return new InstanceChoice(false, ts);
				}
				refused.add("application/dicom (single part: only for one instance)");
				continue;
			}
			refused.add(accepted.text());
		}
		throw DicomWebException.notAcceptable("Cannot serve any of " + refused + ": this resource is available as"
				+ " multipart/related; type=\"application/dicom\" (and application/dicom for a single instance)");
	}

	/**
	 * Accept negotiation for bulk data (PS3.18 §8.7.3.3, §8.7.4): multipart/related with type
	 * application/octet-stream (or the stored compressed media type), or a single part. Bytes are
	 * sent as stored: {@code transfer-syntax=*}, none, or the stored one; native pixel data also
	 * satisfies Explicit VR Little Endian (its bytes are served little endian).
	 */
	static BulkChoice bulk(String theAccept, String theStoredTs, boolean theSinglePartPossible) {
		return bulk(theAccept, theStoredTs, theSinglePartPossible, false);
	}

	/**
	 * {@link #bulk(String, String, boolean)}, and with {@code theDecodable} (frames of compressed
	 * pixel data) application/octet-stream with the transfer-syntax Explicit VR Little Endian, or
	 * without a transfer-syntax (PS3.18 §8.7.3: Explicit VR Little Endian is the default of
	 * octet-stream), is the decoded frames. {@code *}, {@code *}{@code /*} and no Accept stay as stored.
	 */
	static BulkChoice bulk(String theAccept, String theStoredTs, boolean theSinglePartPossible, boolean theDecodable) {
		String compressed = compressedMediaType(theStoredTs);
		boolean decodable = theDecodable && compressed != null;
		if (theAccept == null || theAccept.isBlank()) {
			return new BulkChoice(true, "application/octet-stream", null);
		}
		List<String> refused = new ArrayList<>();
		for (MediaRange accepted : MediaRange.parseAll(theAccept)) {
			String mime = accepted.mime();
			String type = accepted.type();
			String ts = accepted.transferSyntax();
			boolean tsOk = ts == null || ANY_TS.equals(ts) || ts.equals(theStoredTs)
					|| (isNative(theStoredTs) && TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN.equals(ts));
			if ("*/*".equals(mime) || "multipart/*".equals(mime)) {
				return new BulkChoice(true, "application/octet-stream", null);
			}
			boolean multipart = "multipart/related".equals(mime);
			String media = multipart ? (type == null ? "application/octet-stream" : type) : mime;
			if (!multipart && !theSinglePartPossible) {
				refused.add(accepted.text() + " (single part, but more than one part to send)");
				continue;
			}
			if ("image/*".equals(media) && compressed != null) {
				media = compressed;
			}
			if ("application/octet-stream".equals(media) || "application/*".equals(media) || "*/*".equals(media) || "*".equals(media)) {
				if (decodable && (TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN.equals(ts) || (ts == null && "application/octet-stream".equals(media)))) {
					return new BulkChoice(multipart, "application/octet-stream", TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN, true);
				}
				if (tsOk) {
					return new BulkChoice(multipart, "application/octet-stream", ts);
				}
				refused.add(accepted.text() + " (stored as " + theStoredTs + "; frames are decoded to " + TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN
						+ " only" + (decodable ? ")" : "; bulk data is served as stored)"));
				continue;
			}
			if (compressed != null && compressed.equals(media)) {
				if (tsOk) {
					return new BulkChoice(multipart, compressed, ts);
				}
				refused.add(accepted.text() + " (stored as " + theStoredTs + "; no transcoding)");
				continue;
			}
			refused.add(accepted.text());
		}
		throw DicomWebException.notAcceptable("Cannot serve any of " + refused + ": available as multipart/related;"
				+ " type=\"application/octet-stream\"" + (compressed == null ? "" : " or type=\"" + compressed + "\"")
				+ " with transfer-syntax=* (as stored: " + theStoredTs + ")");
	}

	/** Media type of each encapsulated transfer syntax's frames (PS3.18 Table 8.7.3-5; the core's table). */
	static String compressedMediaType(String theTs) {
		return theTs == null ? null : TransferSyntax.of(theTs).mediaType();
	}

	/** Native pixel data is served little endian: its bytes are Explicit VR Little Endian's (the core decides). */
	static String servedTs(String theStoredTs) {
		return theStoredTs == null ? null : TransferSyntax.of(theStoredTs).servedAs();
	}

	static boolean isNative(String theTs) {
		return theTs != null && TransferSyntax.of(theTs).nativeEncoding();
	}
}
