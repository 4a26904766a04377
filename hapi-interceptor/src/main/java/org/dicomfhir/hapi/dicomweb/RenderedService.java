package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomNative;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.ImagingStudy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * PS3.18 rendered and thumbnail resources (§10.4.1.1: instance and frame level; study and series
 * level as a multipart of their instances' renderings, bounded by {@link DicomWebProperties}) and
 * WADO-URI rendering (§9.5). The Rust core decodes and renders
 * ({@link DicomNative#render}, {@link DicomNative#thumbnail}); this class picks the instance
 * through the same {@link StudyStore} read path as retrieve (the caller's RequestDetails, so
 * access rules apply), negotiates the media type and maps the core's errors: UNSUPPORTED → 406
 * with the reason, INVALID_INPUT → 400, LIMIT_EXCEEDED → 413.
 *
 * <p>A study or series thumbnail is the thumbnail of a representative instance: the middle
 * instance of the first series (of the series asked for), resolved from the study as it is now on
 * every request. Every image (thumbnails of 128 px longest side, renderings at any level, WADO-URI)
 * is kept in the {@link RenderedImageCache} by (Binary id, frame, parameters as handed to the core,
 * core version); it is looked up only after the study and the Binary have been read as the caller,
 * exactly as when it is rendered, so the cache changes no answer but the time it takes.
 *
 * <p>Every image has a strong ETag (the instance's SHA-256, the parameters, the core's version)
 * and {@link #CACHE_CONTROL}; If-None-Match with it is 304 without decoding.
 */
final class RenderedService {

	/**
	 * Kept by the browser only, and revalidated before each use: access rules and DELETE apply to
	 * every request; a revalidation (304) costs no decoding.
	 */
	static final String CACHE_CONTROL = "private, no-cache";
	private static final String CORE_VERSION = DicomNative.version();
	private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

	private final StudyStore myStore;
	private final DicomWebProperties myProperties;
	private final RenderedImageCache myImages;

	RenderedService(StudyStore theStore, DicomWebProperties theProperties, RenderedImageCache theImages) {
		myStore = theStore;
		myProperties = theProperties;
		myImages = theImages;
	}

	/**
	 * {@code …/instances/{i}/rendered} (theFrame null: frame 1) and {@code …/frames/{n}/rendered};
	 * at study or series level (theInstance null) a multipart of every instance's rendering.
	 */
	void rendered(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theFrame) throws IOException {
		// read as the caller first: a study the caller may not read is 403 (unknown: 404), whatever is asked of it
		ImagingStudy study = myStore.studyToShow(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		String mediaType = theInstance == null ? negotiateParts(theRequest) : negotiate(theRequest);
		Map<String, String> query = renderingQuery(theRequest, mediaType);
		List<String> warnings = unsupportedParameters(theRequest);
		if (theInstance == null) {
			renderAllAndSend(theRequest, theSeries == null ? "study" : "series", refs, query, warnings);
			return;
		}
		int frame = theFrame == null ? 1 : frameNumber(theFrame);
		renderAndSend(theRequest, refs.get(0), frame, query, warnings);
	}

	private static Map<String, String> renderingQuery(DicomWebRequest theRequest, String theMediaType) {
		Map<String, String> query = new LinkedHashMap<>();
		query.put("mediaType", theMediaType);
		copyParameter(theRequest, "window", query);
		copyParameter(theRequest, "viewport", query);
		copyParameter(theRequest, "quality", query);
		return query;
	}

	/**
	 * A study or series rendered (PS3.18 §10.4.1.1): frame 1 of every instance, in the study's
	 * order, as one multipart/related of images, each part with its instance's Content-Location.
	 * Bounded and decided before the first byte: more instances than
	 * {@code dicomfhir.dicomweb.rendered-max-instances} → 413 before anything is read; every
	 * Binary is read as the caller (access rules, missing bytes → 404); the images are rendered
	 * into memory up to {@code dicomfhir.dicomweb.rendered-max-bytes} (413 beyond), so an instance
	 * that does not render makes the whole answer 406 naming it (as transcoding does).
	 */
	private void renderAllAndSend(DicomWebRequest theRequest, String theLevel, List<StudyStore.InstanceRef> theRefs,
			Map<String, String> theQuery, List<String> theWarnings) throws IOException {
		int maxInstances = myProperties.getRenderedMaxInstances();
		if (theRefs.size() > maxInstances) {
			throw new DicomWebException(413, "The " + theLevel + " has " + theRefs.size() + " instances; a rendered " + theLevel
					+ " is at most " + maxInstances + " (dicomfhir.dicomweb.rendered-max-instances): ask for each instance's"
					+ " …/instances/{uid}/rendered");
		}
		String queryJson = JSON.writeValueAsString(theQuery);
		List<Binary> binaries = new ArrayList<>(theRefs.size());
		List<Binary> read = myStore.binariesOrNull(theRefs, theRequest.details());
		for (int i = 0; i < theRefs.size(); i++) {
			binaries.add(readableOrMissing(theRefs.get(i), read.get(i)));
		}
		String etag = EntityTags.of(theRefs, "rendered parts " + queryJson + " core " + CORE_VERSION);
		if (notModified(theRequest, etag)) {
			return;
		}
		long maxBytes = myProperties.getRenderedMaxBytes();
		long total = 0;
		List<byte[]> images = new ArrayList<>(theRefs.size());
		for (int i = 0; i < theRefs.size(); i++) {
			byte[] image = rendered(theRefs.get(i), binaries.get(i), 1, queryJson);
			total += image.length;
			if (total > maxBytes) {
				throw new DicomWebException(413, "The rendered " + theLevel + " exceeds " + maxBytes + " bytes"
						+ " (dicomfhir.dicomweb.rendered-max-bytes) at instance " + (i + 1) + " of " + theRefs.size()
						+ ": ask for each instance's …/instances/{uid}/rendered, or a smaller viewport");
			}
			images.add(image);
		}
		sendParts(theRequest, theQuery.get("mediaType"), theRefs, images, theWarnings, etag);
	}

	private static void sendParts(DicomWebRequest theRequest, String theMediaType, List<StudyStore.InstanceRef> theRefs,
			List<byte[]> theImages, List<String> theWarnings, String theEtag) throws IOException {
		MultipartWriter parts = new MultipartWriter(theMediaType);
		ByteArrayOutputStream body = new ByteArrayOutputStream();
		for (int i = 0; i < theImages.size(); i++) {
			byte[] image = theImages.get(i);
			parts.part(body, theMediaType, theRequest.instanceUrl(theRefs.get(i)) + "/rendered", (long) image.length, o -> o.write(image));
		}
		parts.close(body);
		send(theRequest, parts.contentType(), body.toByteArray(), theWarnings, theEtag);
	}

	/** {@code …/thumbnail} at study, series, instance or frame level. */
	void thumbnail(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theFrame) throws IOException {
		String mediaType = negotiate(theRequest);
		ImagingStudy study = myStore.studyToShow(theStudy, theRequest.details());
		StudyStore.InstanceRef ref;
		if (theInstance != null) {
			ref = StudyStore.instances(study, theStudy, theSeries, theInstance).get(0);
		} else {
			ref = representative(StudyStore.instances(study, theStudy, theSeries, null));
		}
		String viewport = single(theRequest, "viewport");
		if (viewport != null && viewport.split(",", -1).length != 2) {
			throw DicomWebException.badRequest("A thumbnail's viewport is vw,vh (PS3.18 §8.3.5.1.3), not \"" + viewport + "\"");
		}
		if (theFrame != null || viewport != null) {
			// a frame other than the first, or a size of the client's choosing: rendered, not cached
			Map<String, String> query = new LinkedHashMap<>();
			query.put("mediaType", mediaType);
			query.put("viewport", viewport == null ? "128,128" : viewport);
			renderAndSend(theRequest, ref, theFrame == null ? 1 : frameNumber(theFrame), query, List.of());
			return;
		}
		// the Binary is read as the caller before anything is answered, cached or not: its own
		// authorization (DicomBinaryAccessInterceptor: the Binary's owning study, which need not be
		// the study that lists it) and a deleted Binary's 404 apply to every request
		Binary binary = readable(theRequest, ref);
		String etag = etag(ref, "thumbnail " + mediaType);
		if (notModified(theRequest, etag)) {
			return;
		}
		byte[] image = cachedOrCore(ref, binary, 1, "thumbnail " + mediaType,
				stored -> DicomNative.thumbnail(stored.bytes(), mediaType));
		send(theRequest, mediaType, image, List.of(), etag);
	}

	/** WADO-URI with a rendered contentType (image/jpeg, the default, or image/png). */
	void renderedUri(DicomWebRequest theRequest, WadoUri theUri, String theMediaType) throws IOException {
		Map<String, String> query = new LinkedHashMap<>();
		query.put("mediaType", theMediaType);
		String center = single(theRequest, "windowCenter");
		String width = single(theRequest, "windowWidth");
		if ((center == null) != (width == null)) {
			throw DicomWebException.badRequest("WADO-URI: windowCenter and windowWidth go together");
		}
		if (center != null) {
			query.put("window", center.trim() + "," + width.trim());
		}
		String rows = single(theRequest, "rows");
		String columns = single(theRequest, "columns");
		if (rows != null || columns != null) {
			// PS3.18 §9.5.1.2.1: maximums keeping the aspect ratio; one alone bounds that side only
			query.put("viewport", (columns == null ? "4096" : columns.trim()) + "," + (rows == null ? "4096" : rows.trim()));
		}
		String quality = single(theRequest, "imageQuality");
		if (quality != null) {
			query.put("quality", quality.trim());
		}
		String region = single(theRequest, "region");
		if (region != null) {
			// PS3.18 §9.5.1.2.1: fractions of the image, cut out before rows/columns apply (the core checks them)
			query.put("region", region);
		}
		for (String p : List.of("presentationUID", "presentationSeriesUID")) {
			if (single(theRequest, p) != null) {
				throw DicomWebException.badRequest("WADO-URI: " + p + " is not supported by this server");
			}
		}
		List<String> warnings = new ArrayList<>();
		if (single(theRequest, "annotation") != null) {
			warnings.add("annotation is not supported; the image is rendered without annotation");
		}
		String frame = single(theRequest, "frameNumber");
		ImagingStudy study = myStore.studyToShow(theUri.studyUid(), theRequest.details());
		StudyStore.InstanceRef ref = StudyStore.instances(study, theUri.studyUid(), theUri.seriesUid(), theUri.objectUid()).get(0);
		renderAndSend(theRequest, ref, frame == null ? 1 : frameNumber(frame), query, warnings);
	}

	/** The middle instance of the first series (dcm4chee does the same). */
	static StudyStore.InstanceRef representative(List<StudyStore.InstanceRef> theRefs) {
		String firstSeries = theRefs.get(0).seriesUid();
		List<StudyStore.InstanceRef> series = theRefs.stream().filter(r -> r.seriesUid().equals(firstSeries)).toList();
		return series.get(series.size() / 2);
	}

	/**
	 * Renders frame theFrame of the instance with theQuery (mediaType first) and sends it, or 304
	 * when If-None-Match names its ETag: the caller's access to the Binary is checked first,
	 * decoding is skipped.
	 */
	private void renderAndSend(DicomWebRequest theRequest, StudyStore.InstanceRef theRef, int theFrame, Map<String, String> theQuery,
			List<String> theWarnings) throws IOException {
		String queryJson = JSON.writeValueAsString(theQuery);
		Binary binary = readable(theRequest, theRef);
		String etag = etag(theRef, "rendered " + theFrame + " " + queryJson);
		if (notModified(theRequest, etag)) {
			return;
		}
		byte[] image = rendered(theRef, binary, theFrame, queryJson);
		send(theRequest, theQuery.get("mediaType"), image, theWarnings, etag);
	}

	/** Frame theFrame of the instance rendered with the parameters (JSON, as the core takes them), from the cache when kept. */
	private byte[] rendered(StudyStore.InstanceRef theRef, Binary theBinary, int theFrame, String theQueryJson) throws IOException {
		return cachedOrCore(theRef, theBinary, theFrame, "render " + theQueryJson,
				stored -> DicomNative.render(stored.bytes(), theFrame, theQueryJson));
	}

	private static final java.util.regex.Pattern CONTENT_ADDRESS = java.util.regex.Pattern.compile("[0-9a-f]{64}");

	private interface Renderer {
		byte[] render(StoredInstance theStored) throws IOException;
	}

	/**
	 * The image of the Binary the caller has just read (theBinary: already authorized, its bytes
	 * present), from the cache, else rendered and kept. theParameters is everything besides the
	 * Binary and frame the renderer's output depends on, spelled exactly as handed to the core
	 * (two spellings of one window are two entries, never one wrong image); the core's version
	 * is part of it. Errors are not kept: every request that fails renders again.
	 */
	private byte[] cachedOrCore(StudyStore.InstanceRef theRef, Binary theBinary, int theFrame, String theParameters, Renderer theRenderer)
			throws IOException {
		// only a content address (64 hex digits: the storage hook lets no other bytes under it) is a key
		RenderedImageCache.Key key = CONTENT_ADDRESS.matcher(theRef.binaryId()).matches()
				? new RenderedImageCache.Key(theRef.binaryId(), theFrame, theParameters + " core " + CORE_VERSION)
				: null;
		byte[] image = key == null ? null : myImages.get(key);
		if (image != null) {
			return image;
		}
		try (StoredInstance stored = myStore.open(theBinary)) {
			image = core(theRef, () -> theRenderer.render(stored));
		}
		if (key != null) {
			myImages.put(key, image);
		}
		return image;
	}

	/**
	 * A strong ETag: the instance is immutable (its Binary id is its SHA-256) and its rendering a
	 * function of those bytes, the parameters and the core that renders them (its version).
	 */
	private static String etag(StudyStore.InstanceRef theRef, String theParameters) {
		return EntityTags.of(List.of(theRef), theParameters + " core " + CORE_VERSION);
	}

	private static boolean notModified(DicomWebRequest theRequest, String theEtag) {
		if (!EntityTags.notModified(theRequest, theRequest.servletResponse(), theEtag)) {
			return false;
		}
		theRequest.servletResponse().setHeader("Cache-Control", CACHE_CONTROL);
		return true;
	}

	private interface CoreCall {
		byte[] call() throws IOException;
	}

	private static byte[] core(StudyStore.InstanceRef theRef, CoreCall theCall) throws IOException {
		try {
			return theCall.call();
		} catch (DicomException e) {
			String what = "Instance " + theRef.sopInstanceUid() + ": " + e.getMessage();
			switch (e.kind()) {
				case UNSUPPORTED -> throw DicomWebException.notAcceptable(what);
				case INVALID_INPUT -> throw DicomWebException.badRequest(what);
				case LIMIT_EXCEEDED -> throw new DicomWebException(413, what);
				default -> throw e;
			}
		}
	}

	private Binary readable(DicomWebRequest theRequest, StudyStore.InstanceRef theRef) {
		return readableOrMissing(theRef, myStore.binariesOrNull(List.of(theRef), theRequest.details()).get(0));
	}

	private Binary readableOrMissing(StudyStore.InstanceRef theRef, Binary binary) {
		if (binary == null || !myStore.readable(binary)) {
			throw DicomWebException.notFound("Instance " + theRef.sopInstanceUid() + " is listed in its study but its stored bytes (Binary/"
					+ theRef.binaryId() + ") are missing");
		}
		return binary;
	}

	private static int frameNumber(String theFrame) {
		String f = theFrame.trim();
		if (!f.matches("[0-9]{1,9}") || Integer.parseInt(f) < 1) {
			throw DicomWebException.badRequest("A rendered frame is one frame number from 1, not \"" + theFrame + "\"");
		}
		return Integer.parseInt(f);
	}

	/**
	 * The rendered media type: the {@code accept} query parameter, else the Accept header; the
	 * first of image/jpeg, image/png, image/*, *&#47;* named (the latter two: image/jpeg, the PS3.18
	 * default); none of them → 406.
	 */
	static String negotiate(DicomWebRequest theRequest) {
		String accept = acceptOf(theRequest);
		if (accept == null) {
			return "image/jpeg";
		}
		for (MediaRange range : MediaRange.parseAll(accept)) {
			String type = renderedType(range.mime());
			if (type != null) {
				return type;
			}
		}
		throw DicomWebException.notAcceptable("Rendered images are available as image/jpeg and image/png, not " + accept);
	}

	/**
	 * The media type of a study's or series' rendered parts: {@code multipart/related} with a
	 * {@code type} we render (none: image/jpeg), or a single-image type as {@link #negotiate}
	 * takes it (PS3.18 names the part type; clients such as dicomweb-client send it bare).
	 */
	static String negotiateParts(DicomWebRequest theRequest) {
		String accept = acceptOf(theRequest);
		if (accept == null) {
			return "image/jpeg";
		}
		for (MediaRange range : MediaRange.parseAll(accept)) {
			String mime = "multipart/related".equals(range.mime()) ? (range.type() == null ? "image/jpeg" : range.type()) : range.mime();
			String type = renderedType(mime);
			if (type != null) {
				return type;
			}
		}
		throw DicomWebException.notAcceptable("A rendered study or series is multipart/related; type=\"image/jpeg\" or"
				+ " type=\"image/png\", not " + accept);
	}

	/** The {@code accept} query parameter, else the Accept header; null when neither says anything. */
	private static String acceptOf(DicomWebRequest theRequest) {
		String accept = theRequest.servletRequest().getParameter("accept");
		if (accept == null || accept.isBlank()) {
			accept = theRequest.header("Accept");
		}
		return accept == null || accept.isBlank() ? null : accept;
	}

	/** The image type sent for a media type asked for (image/* and *&#47;*: JPEG); null when none is rendered for it. */
	private static String renderedType(String theMime) {
		return switch (theMime.toLowerCase(Locale.ROOT)) {
			case "image/jpeg", "image/*", "*/*" -> "image/jpeg";
			case "image/png" -> "image/png";
			default -> null;
		};
	}

	/** PS3.18 parameters this server does not apply: the image is sent without them, with a Warning. */
	private static List<String> unsupportedParameters(DicomWebRequest theRequest) {
		List<String> out = new ArrayList<>();
		if (single(theRequest, "annotation") != null) {
			out.add("annotation is not supported; the image is rendered without annotation");
		}
		String icc = single(theRequest, "iccprofile");
		if (icc != null && !"no".equalsIgnoreCase(icc.trim())) {
			out.add("iccprofile is not supported; no ICC profile is embedded");
		}
		return out;
	}

	private static void copyParameter(DicomWebRequest theRequest, String theName, Map<String, String> theQuery) {
		String v = single(theRequest, theName);
		if (v != null) {
			theQuery.put(theName, v);
		}
	}

	private static String single(DicomWebRequest theRequest, String theName) {
		String[] values = theRequest.servletRequest().getParameterValues(theName);
		if (values == null || values.length == 0) {
			return null;
		}
		if (values.length > 1) {
			throw DicomWebException.badRequest(theName + " given " + values.length + " times");
		}
		return values[0];
	}

	private static void send(DicomWebRequest theRequest, String theMediaType, byte[] theImage, List<String> theWarnings, String theEtag)
			throws IOException {
		HttpServletResponse response = theRequest.servletResponse();
		response.setStatus(200);
		response.setHeader("ETag", theEtag);
		response.setHeader("Cache-Control", CACHE_CONTROL);
		response.setContentType(theMediaType);
		response.setContentLength(theImage.length);
		for (String w : theWarnings) {
			response.addHeader("Warning", theRequest.warning(w));
		}
		if ("HEAD".equals(theRequest.servletRequest().getMethod())) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			out.write(theImage);
		}
	}

}
