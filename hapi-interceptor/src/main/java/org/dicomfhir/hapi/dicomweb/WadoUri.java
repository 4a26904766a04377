package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A WADO-URI request (PS3.18 §9): {@code ?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..}
 * with optional {@code contentType} and {@code transferSyntax}. This server returns the stored
 * instance ({@code application/dicom}); it does not render images, so a request that needs a
 * rendered image (the default contentType is image/jpeg) is answered 406 with the reason.
 */
record WadoUri(String studyUid, String seriesUid, String objectUid, String transferSyntax) {

	/** Rendering parameters (PS3.18 §9.1.2.1-2): meaningful only for rendered media types. */
	private static final List<String> RENDERING = List.of("annotation", "rows", "columns", "region", "windowCenter",
			"windowWidth", "imageQuality", "presentationUID", "presentationSeriesUID", "frameNumber");

	static WadoUri parse(HttpServletRequest theRequest) {
		String requestType = single(theRequest, "requestType");
		if (!"WADO".equals(requestType)) {
			throw DicomWebException.badRequest("requestType must be WADO, not \"" + requestType + "\"");
		}
		List<String> missing = new ArrayList<>();
		String study = required(theRequest, "studyUID", missing);
		String series = required(theRequest, "seriesUID", missing);
		String object = required(theRequest, "objectUID", missing);
		if (!missing.isEmpty()) {
			throw DicomWebException.badRequest("WADO-URI: missing required parameter(s) " + String.join(", ", missing));
		}
		for (String uid : List.of(study, series, object)) {
			if (!DicomWebInterceptor.isUid(uid)) {
				throw DicomWebException.badRequest("WADO-URI: \"" + uid + "\" is not a valid UID");
			}
		}
		String contentType = single(theRequest, "contentType");
		if (!acceptsDicom(contentType)) {
			throw DicomWebException.notAcceptable("WADO-URI: this server returns the stored DICOM instance only and does not"
					+ " render images; " + (contentType == null
							? "without contentType PS3.18 asks for image/jpeg. Add contentType=application/dicom"
							: "contentType=" + contentType + " is not available. Use contentType=application/dicom"));
		}
		String anonymize = single(theRequest, "anonymize");
		if (anonymize != null && !anonymize.isBlank()) {
			throw new DicomWebException(501, "WADO-URI: anonymize is not supported by this server");
		}
		for (String p : RENDERING) {
			if (theRequest.getParameter(p) != null) {
				throw DicomWebException.badRequest("WADO-URI: " + p + " applies to rendered images only, not to contentType=application/dicom");
			}
		}
		String ts = single(theRequest, "transferSyntax");
		if (ts != null && !ts.isBlank() && !"*".equals(ts.trim()) && !DicomWebInterceptor.isUid(ts.trim())) {
			throw DicomWebException.badRequest("WADO-URI: transferSyntax \"" + ts + "\" is not a UID");
		}
		return new WadoUri(study, series, object, ts == null || ts.isBlank() ? null : ts.trim());
	}

	/** contentType is a comma-separated list of media types (with optional q values). */
	private static boolean acceptsDicom(String theContentType) {
		if (theContentType == null || theContentType.isBlank()) {
			return false;
		}
		for (String range : theContentType.split(",")) {
			String mime = range.split(";")[0].trim().toLowerCase(Locale.ROOT);
			if ("application/dicom".equals(mime) || "*/*".equals(mime) || "application/*".equals(mime)) {
				return true;
			}
		}
		return false;
	}

	private static String required(HttpServletRequest theRequest, String theName, List<String> theMissing) {
		String v = single(theRequest, theName);
		if (v == null || v.isBlank()) {
			theMissing.add(theName);
			return null;
		}
		return v.trim();
	}

	private static String single(HttpServletRequest theRequest, String theName) {
		String[] values = theRequest.getParameterValues(theName);
		if (values == null || values.length == 0) {
			return null;
		}
		if (values.length > 1) {
			throw DicomWebException.badRequest("WADO-URI: " + theName + " given " + values.length + " times");
		}
		return values[0];
	}
}
