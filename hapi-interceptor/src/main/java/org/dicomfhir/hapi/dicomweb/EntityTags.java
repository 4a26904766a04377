package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomNative;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Strong ETags of what WADO-RS serves and the {@code If-None-Match} check. Stored instances are
 * immutable (a Binary's id is the SHA-256 of its bytes), so a tag is derived from Binary ids and,
 * for bytes the core computes, from what was asked and the core's version.
 */
final class EntityTags {

	/** The core's version: part of the ETag of what it computes (a transcoded instance, decoded frames). */
	static final String CORE_VERSION = DicomNative.version();

	private EntityTags() {
	}

	/** An instance's ETag is its SHA-256; a series' or study's, the SHA-256 of its instances'. */
	static String of(List<StudyStore.InstanceRef> theRefs, String theVariant) {
		if (theRefs.size() == 1 && theVariant.isEmpty()) {
			return "\"" + theRefs.get(0).binaryId() + "\"";
		}
		try {
			MessageDigest md = MessageDigest.getInstance("SHA-256");
			md.update(theVariant.getBytes(StandardCharsets.UTF_8));
			for (StudyStore.InstanceRef ref : theRefs) {
				md.update((ref.binaryId() + "\n").getBytes(StandardCharsets.US_ASCII));
			}
			return "\"" + (theVariant.isEmpty() ? "" : "m-") + HexFormat.of().formatHex(md.digest()) + "\"";
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException(e);
		}
	}

	/** The ETag of bytes the core computes from the instances ({@code theWhat}: what was asked). */
	static String computed(List<StudyStore.InstanceRef> theRefs, String theWhat) {
		return of(theRefs, theWhat + " core " + CORE_VERSION);
	}

	/** True (and a 304 with the ETag set) when {@code If-None-Match} names the ETag or {@code *}. */
	static boolean notModified(DicomWebRequest theRequest, HttpServletResponse theResponse, String theEtag) {
		String inm = theRequest.header("If-None-Match");
		if (inm == null) {
			return false;
		}
		for (String candidate : inm.split(",")) {
			String c = candidate.trim();
			if (c.startsWith("W/")) {
				c = c.substring(2);
			}
			if (c.equals("*") || c.equals(theEtag)) {
				theResponse.setStatus(304);
				theResponse.setHeader("ETag", theEtag);
				return true;
			}
		}
		return false;
	}
}
