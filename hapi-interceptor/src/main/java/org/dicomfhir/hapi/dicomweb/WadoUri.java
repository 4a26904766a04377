package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A WADO-URI request (PS3.18 §9): {@code ?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..}
 * with optional {@code contentType} and {@code transferSyntax}. {@code contentType} is a list in
 * order of preference: the first of {@code application/dicom} (also {@code *}{@code /*},
 * {@code application/*}: the stored instance), {@code image/jpeg} (the default when absent) and
 * {@code image/png} (a rendered image, see {@link RenderedService}) wins; anything else is 406.
 * {@code renderedMediaType} is null for the stored instance.
 */
record WadoUri(String studyUid, String seriesUid, String objectUid, String transferSyntax, String renderedMediaType) {

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
		String rendered = renderedMediaType(contentType);
		String anonymize = single(theRequest, "anonymize");
		if (anonymize != null && !anonymize.isBlank()) {
			throw new DicomWebException(501, "WADO-URI: anonymize is not supported by this server");
		}
		if (rendered == null) {
			for (String p : RENDERING) {
				if (theRequest.getParameter(p) != null) {
					throw DicomWebException.badRequest("WADO-URI: " + p + " applies to rendered images only, not to contentType=application/dicom");
				}
			}
		} else if (theRequest.getParameter("transferSyntax") != null) {
			throw DicomWebException.badRequest("WADO-URI: transferSyntax applies to contentType=application/dicom only");
		}
		String ts = single(theRequest, "transferSyntax");
		if (ts != null && !ts.isBlank() && !"*".equals(ts.trim()) && !DicomWebInterceptor.isUid(ts.trim())) {
			throw DicomWebException.badRequest("WADO-URI: transferSyntax \"" + ts + "\" is not a UID");
		}
		return new WadoUri(study, series, object, ts == null || ts.isBlank() ? null : ts.trim(), rendered);
	}

	/**
	 * contentType is a comma-separated list of media types (with optional q values), in order of
	 * preference: null for the stored instance, else the rendered media type.
	 */
	private static String renderedMediaType(String theContentType) {
		if (theContentType == null || theContentType.isBlank()) {
			return "image/jpeg";
		}
		for (String range : theContentType.split(",")) {
			String mime = range.split(";")[0].trim().toLowerCase(Locale.ROOT);
			switch (mime) {
				case "application/dicom", "*/*", "application/*" -> {
					return null;
				}
				case "image/jpeg", "image/*" -> {
					return "image/jpeg";
				}
				case "image/png" -> {
					return "image/png";
				}
				default -> {
				}
			}
		}
		throw DicomWebException.notAcceptable("WADO-URI: contentType=" + theContentType + " is not available; this server returns"
				+ " application/dicom (the stored instance), image/jpeg or image/png");
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
