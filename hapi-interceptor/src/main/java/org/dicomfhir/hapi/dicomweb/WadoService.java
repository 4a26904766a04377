package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomNative;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.ImagingStudy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * WADO-RS retrieve (study, series, instance) and metadata (PS3.18 §10.4). Instances are streamed
 * from the binary store one after the other (a study never sits whole in memory). Metadata is
 * the Rust core's DICOM JSON of each instance, with BulkDataURIs below the instance's URL.
 */
public class WadoService {

	static final String ANY_TS = "*";

	private final StudyStore myStore;

	public WadoService(StudyStore theStore) {
		myStore = theStore;
	}

	/** What the client accepts for instances. */
	private record Choice(boolean multipart, String transferSyntax) {}

	void retrieve(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) throws IOException {
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		Choice choice = negotiate(theRequest.header("Accept"), theInstance != null);
		if (choice.transferSyntax() != null && !ANY_TS.equals(choice.transferSyntax())) {
			for (StudyStore.InstanceRef ref : refs) {
				if (!choice.transferSyntax().equals(ref.transferSyntaxUid())) {
					throw DicomWebException.notAcceptable("Instance " + ref.sopInstanceUid() + " is stored as "
							+ ref.transferSyntaxUid() + " and this server does not transcode yet: ask for transfer-syntax="
							+ (ref.transferSyntaxUid() == null ? "*" : ref.transferSyntaxUid()) + " or transfer-syntax=*");
				}
			}
		}
		HttpServletResponse response = theRequest.servletResponse();
		String etag = etag(refs, "");
		if (notModified(theRequest, response, etag)) {
			return;
		}
		// Read every Binary before the first byte is sent: an authorization or not-found error is
		// then still a clean 4xx instead of a truncated multipart body.
		List<Binary> binaries = new ArrayList<>(refs.size());
		for (StudyStore.InstanceRef ref : refs) {
			binaries.add(myStore.binary(ref.binaryId(), theRequest.details()));
		}
		response.setStatus(200);
		response.setHeader("ETag", etag);
		if (!choice.multipart()) {
			StudyStore.InstanceRef ref = refs.get(0);
			response.setContentType("application/dicom" + tsParam(ref));
			if (ref.size() != null) {
				response.setContentLengthLong(ref.size());
			}
			if ("HEAD".equals(theRequest.servletRequest().getMethod())) {
				return;
			}
			try (OutputStream out = response.getOutputStream()) {
				myStore.write(binaries.get(0), out);
			}
			return;
		}
		String boundary = "dicomfhir-" + UUID.randomUUID();
		response.setContentType("multipart/related; type=\"application/dicom\"; boundary=" + boundary);
		if ("HEAD".equals(theRequest.servletRequest().getMethod())) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < refs.size(); i++) {
				StudyStore.InstanceRef ref = refs.get(i);
				StringBuilder head = new StringBuilder("--").append(boundary).append("\r\n")
						.append("Content-Type: application/dicom").append(tsParam(ref)).append("\r\n")
						.append("Content-Location: ").append(theRequest.instanceUrl(ref)).append("\r\n");
				if (ref.size() != null) {
					head.append("Content-Length: ").append(ref.size()).append("\r\n");
				}
				head.append("\r\n");
				out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
				myStore.write(binaries.get(i), out);
				out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
			}
			out.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
		}
	}

	void metadata(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) throws IOException {
		String accept = theRequest.header("Accept");
		if (accept != null && !accept.isBlank()) {
			String a = accept.toLowerCase(Locale.ROOT);
			if (!(a.contains("json") || a.contains("*/*") || a.contains("application/*"))) {
				throw DicomWebException.notAcceptable("Metadata is served as application/dicom+json only (Accept: " + accept + ")");
			}
		}
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		HttpServletResponse response = theRequest.servletResponse();
		// The metadata depends on the bytes and on the URL base of the BulkDataURIs.
		String etag = etag(refs, theRequest.serviceBase());
		if (notModified(theRequest, response, etag)) {
			return;
		}
		List<Binary> binaries = new ArrayList<>(refs.size());
		for (StudyStore.InstanceRef ref : refs) {
			binaries.add(myStore.binary(ref.binaryId(), theRequest.details()));
		}
		response.setStatus(200);
		response.setHeader("ETag", etag);
		response.setContentType("application/dicom+json");
		response.setCharacterEncoding("UTF-8");
		try (OutputStream out = response.getOutputStream()) {
			out.write('[');
			for (int i = 0; i < refs.size(); i++) {
				if (i > 0) {
					out.write(',');
				}
				String json = DicomNative.dicomJson(myStore.bytes(binaries.get(i)), theRequest.instanceUrl(refs.get(i)));
				out.write(json.getBytes(StandardCharsets.UTF_8));
			}
			out.write(']');
		}
	}

	private static String tsParam(StudyStore.InstanceRef theRef) {
		return theRef.transferSyntaxUid() == null ? "" : "; transfer-syntax=" + theRef.transferSyntaxUid();
	}

	/**
	 * Accept negotiation for instances (PS3.18 §8.7.3). Absent transfer-syntax is served as
	 * stored, like {@code *} (we do not transcode yet; see docs/dicomweb.md).
	 */
	static Choice negotiate(String theAccept, boolean theSingleInstance) {
		if (theAccept == null || theAccept.isBlank()) {
			return new Choice(true, null);
		}
		List<String> refused = new ArrayList<>();
		for (String range : splitOutsideQuotes(theAccept, ',')) {
			List<String> parts = splitOutsideQuotes(range, ';');
			String mime = parts.get(0).trim().toLowerCase(Locale.ROOT);
			String type = null;
			String ts = null;
			for (String p : parts.subList(1, parts.size())) {
				int eq = p.indexOf('=');
				if (eq < 0) {
					continue;
				}
				String k = p.substring(0, eq).trim().toLowerCase(Locale.ROOT);
				String v = p.substring(eq + 1).trim().replace("\"", "");
				if ("type".equals(k)) {
					type = v.toLowerCase(Locale.ROOT);
				} else if ("transfer-syntax".equals(k)) {
					ts = v;
				}
			}
			if ("*/*".equals(mime) || "multipart/*".equals(mime)) {
				return new Choice(true, null);
			}
			if ("multipart/related".equals(mime) && (type == null || "application/dicom".equals(type))) {
				return new Choice(true, ts);
			}
			if ("application/dicom".equals(mime)) {
				if (theSingleInstance) {
					return new Choice(false, ts);
				}
				refused.add("application/dicom (single part: only for one instance)");
				continue;
			}
			refused.add(range.trim());
		}
		throw DicomWebException.notAcceptable("Cannot serve any of " + refused + ": this resource is available as"
				+ " multipart/related; type=\"application/dicom\" (and application/dicom for a single instance)");
	}

	static List<String> splitOutsideQuotes(String theValue, char theSeparator) {
		List<String> out = new ArrayList<>();
		StringBuilder cur = new StringBuilder();
		boolean quoted = false;
		for (char c : theValue.toCharArray()) {
			if (c == '"') {
				quoted = !quoted;
			}
			if (c == theSeparator && !quoted) {
				out.add(cur.toString());
				cur.setLength(0);
			} else {
				cur.append(c);
			}
		}
		out.add(cur.toString());
		return out;
	}

	/** An instance's ETag is its SHA-256; a series' or study's, the SHA-256 of its instances'. */
	static String etag(List<StudyStore.InstanceRef> theRefs, String theVariant) {
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

	private static boolean notModified(DicomWebRequest theRequest, HttpServletResponse theResponse, String theEtag) {
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
