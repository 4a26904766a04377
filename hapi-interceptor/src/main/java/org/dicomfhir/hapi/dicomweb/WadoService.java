package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomNative;
import org.dicomfhir.bridge.TransferSyntax;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * WADO-RS retrieve (study, series, instance) and metadata (PS3.18 §10.4). Instances are streamed
 * from the binary store one after the other (a study never sits whole in memory). Metadata is
 * the Rust core's DICOM JSON of each instance, with BulkDataURIs below the instance's URL.
 */
public class WadoService {

	static final String ANY_TS = "*";

	private static final org.slf4j.Logger ourLog = org.slf4j.LoggerFactory.getLogger(WadoService.class);
	/** How many SOP Instance UIDs a Warning header names before it says "and N more". */
	private static final int WARNING_UIDS = 10;

	private final StudyStore myStore;
	private final DicomWebProperties myProperties;
	private final DicomJsonCache myMetadata;
	private final RenderedService myRendering;
	/** Reads and parses instances for metadata requests (one thread per core, idle ones exit). */
	private final ExecutorService myParsers;
	/** The core's version: part of the ETag of what it computes (a transcoded instance). */
	private static final String CORE_VERSION = DicomNative.version();
	/** How many instances a metadata request parses ahead of the one it writes. */
	private static final int METADATA_WINDOW = 16;

	public WadoService(StudyStore theStore, long theMetadataCacheChars, DicomWebProperties theProperties) {
		myStore = theStore;
		myProperties = theProperties;
		myMetadata = new DicomJsonCache(theMetadataCacheChars);
		myRendering = new RenderedService(theStore);
		int cores = Runtime.getRuntime().availableProcessors();
		ThreadPoolExecutor parsers = new ThreadPoolExecutor(cores, cores, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
			Thread t = new Thread(r, "dicomweb-metadata");
			t.setDaemon(true);
			return t;
		});
		parsers.allowCoreThreadTimeOut(true);
		myParsers = parsers;
	}

	/** Rendered images and thumbnails of the instances this service retrieves. */
	RenderedService rendering() {
		return myRendering;
	}

	/** The result of a metadata task, with its own exception. */
	private static String await(Future<String> theTask) throws IOException {
		try {
			return theTask.get();
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new java.io.InterruptedIOException("interrupted while reading instance metadata");
		} catch (ExecutionException e) {
			if (e.getCause() instanceof IOException io) {
				throw io;
			}
			if (e.getCause() instanceof RuntimeException re) {
				throw re;
			}
			throw new IllegalStateException(e.getCause());
		}
	}

	/** What the client accepts for instances. */
	record Choice(boolean multipart, String transferSyntax) {}

	void retrieve(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) throws IOException {
		Choice choice = negotiate(theRequest.header("Accept"), theInstance != null);
		retrieve(theRequest, theStudy, theSeries, theInstance, choice);
	}

	/** WADO-URI with contentType=application/dicom: the stored instance, single part. */
	void retrieveUri(DicomWebRequest theRequest, WadoUri theUri) throws IOException {
		retrieve(theRequest, theUri.studyUid(), theUri.seriesUid(), theUri.objectUid(), new Choice(false, theUri.transferSyntax()));
	}

	private void retrieve(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, Choice choice)
			throws IOException {
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		boolean transcode = false;
		if (choice.transferSyntax() != null && !ANY_TS.equals(choice.transferSyntax())) {
			for (StudyStore.InstanceRef ref : refs) {
				if (!choice.transferSyntax().equals(ref.transferSyntaxUid())) {
					if (!TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN.equals(choice.transferSyntax())) {
						throw DicomWebException.notAcceptable("Instance " + ref.sopInstanceUid() + " is stored as "
								+ ref.transferSyntaxUid() + " and this server transcodes to Explicit VR Little Endian only: ask for"
								+ " transfer-syntax=" + TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN + ", transfer-syntax="
								+ (ref.transferSyntaxUid() == null ? "*" : ref.transferSyntaxUid()) + " or transfer-syntax=*");
					}
					transcode = true;
				}
			}
		}
		HttpServletResponse response = theRequest.servletResponse();
		// a transcoded answer is other bytes than the stored ones: its own ETag
		String etag = transcode ? etag(refs, "transfer-syntax=" + TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN + " core " + CORE_VERSION)
				: etag(refs, "");
		if (notModified(theRequest, response, etag)) {
			return;
		}
		// Read every Binary before the first byte is sent: an authorization or not-found error is
		// then still a clean 4xx instead of a truncated multipart body. Instances whose bytes are
		// missing are left out (with a Warning), not the whole study.
		Servable readable = servable(theRequest, refs, theStudy);
		refs = readable.refs();
		List<Binary> binaries = readable.binaries();
		response.setStatus(200);
		if (transcode) {
			retrieveTranscoded(theRequest, refs, binaries, choice.multipart(), readable.missing().isEmpty() ? etag : null);
			return;
		}
		if (readable.missing().isEmpty()) {
			response.setHeader("ETag", etag); // a partial answer has none: it must not be cached as the study
		}
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

	/**
	 * Retrieve in Explicit VR Little Endian, the instances stored otherwise decoded by the core
	 * ({@link DicomNative#transcode}), one at a time while the answer streams. The whole request is
	 * refused (406 for pixel data the core cannot decode, 413 beyond
	 * {@code dicomfhir.dicomweb.max-inflated-bytes} decoded) before its first byte when any instance
	 * cannot be provided: one instance is transcoded up front; several are checked up front from
	 * their headers ({@link DicomNative#transcodeCheck}). A codestream that passes the check and
	 * still fails to decode mid-answer aborts the response (logged): a client sees a broken
	 * answer, never a study silently missing an instance.
	 */
	private void retrieveTranscoded(DicomWebRequest theRequest, List<StudyStore.InstanceRef> theRefs, List<Binary> theBinaries,
			boolean theMultipart, String theEtag) throws IOException {
		HttpServletResponse response = theRequest.servletResponse();
		long max = myProperties.getMaxInflatedBytes();
		String ts = "; transfer-syntax=" + TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN;
		boolean head = "HEAD".equals(theRequest.servletRequest().getMethod());
		byte[] first = transcoded(theRefs.get(0), theBinaries.get(0), max, true);
		if (theRefs.size() > 1) {
			for (int i = 1; i < theRefs.size(); i++) {
				if (needsTranscoding(theRefs.get(i))) {
					try (StoredInstance stored = myStore.open(theBinaries.get(i))) {
						byte[] bytes = stored.bytes();
						refusal(theRefs.get(i), max, () -> {
							DicomNative.transcodeCheck(bytes, max);
							return null;
						});
					}
				}
			}
		}
		response.setStatus(200);
		if (theEtag != null) {
			response.setHeader("ETag", theEtag);
		}
		if (!theMultipart) {
			response.setContentType("application/dicom" + ts);
			response.setContentLengthLong(first.length);
			if (!head) {
				try (OutputStream out = response.getOutputStream()) {
					out.write(first);
				}
			}
			return;
		}
		String boundary = "dicomfhir-" + UUID.randomUUID();
		response.setContentType("multipart/related; type=\"application/dicom\"; boundary=" + boundary);
		if (head) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < theRefs.size(); i++) {
				StudyStore.InstanceRef ref = theRefs.get(i);
				byte[] bytes = i == 0 ? first : transcoded(ref, theBinaries.get(i), max, false);
				first = null; // one transcoded instance in memory at a time
				String partHead = "--" + boundary + "\r\n"
						+ "Content-Type: application/dicom" + ts + "\r\n"
						+ "Content-Location: " + theRequest.instanceUrl(ref) + "\r\n"
						+ "Content-Length: " + bytes.length + "\r\n\r\n";
				out.write(partHead.getBytes(StandardCharsets.US_ASCII));
				out.write(bytes);
				out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
			}
			out.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
		}
	}

	private static boolean needsTranscoding(StudyStore.InstanceRef theRef) {
		return !TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN.equals(theRef.transferSyntaxUid());
	}

	/**
	 * The instance in Explicit VR Little Endian (its stored bytes when stored so). Before the answer
	 * is committed ({@code theRefusable}) a failure is the request's 406/413; after, it aborts the
	 * answer with an IOException.
	 */
	private byte[] transcoded(StudyStore.InstanceRef theRef, Binary theBinary, long theMax, boolean theRefusable) throws IOException {
		try (StoredInstance stored = myStore.open(theBinary)) {
			byte[] bytes = stored.bytes();
			if (!needsTranscoding(theRef)) {
				return bytes;
			}
			if (theRefusable) {
				return refusal(theRef, theMax, () -> DicomNative.transcode(bytes, theMax));
			}
			try {
				return DicomNative.transcode(bytes, theMax);
			} catch (org.dicomfhir.bridge.DicomException e) {
				ourLog.warn("DICOMweb: instance {} (Binary/{}) could not be transcoded mid-answer, response aborted: {}",
						theRef.sopInstanceUid(), theRef.binaryId(), e.getMessage());
				throw new IOException("instance " + theRef.sopInstanceUid() + " could not be transcoded: " + e.getMessage(), e);
			}
		}
	}

	private interface Transcoding<T> {
		T call() throws IOException;
	}

	/** Runs a transcoding step of the core; what it refuses becomes the request's status. */
	static <T> T refusal(StudyStore.InstanceRef theRef, long theMax, Transcoding<T> theCall) throws IOException {
		try {
			return theCall.call();
		} catch (org.dicomfhir.bridge.DicomException e) {
			String what = "Instance " + theRef.sopInstanceUid() + " (stored as " + theRef.transferSyntaxUid()
					+ ") cannot be provided in Explicit VR Little Endian: " + e.getMessage();
			switch (e.kind()) {
				case UNSUPPORTED -> throw DicomWebException.notAcceptable(what + "; ask for transfer-syntax=* to receive it as stored");
				case LIMIT_EXCEEDED -> throw new DicomWebException(413, what + " (dicomfhir.dicomweb.max-inflated-bytes = " + theMax
						+ "); ask for transfer-syntax=* to receive it as stored");
				case INVALID_INPUT -> throw DicomWebException.badRequest(what);
				default -> throw e;
			}
		}
	}

	/** The instances of a request whose bytes can be read (with their Binaries), and those whose cannot. */
	private record Servable(List<StudyStore.InstanceRef> refs, List<Binary> binaries, List<StudyStore.InstanceRef> missing) {}

	/**
	 * Reads the instances' Binaries and keeps those whose bytes can be read. An instance whose
	 * Binary is gone, or whose blob the binary store no longer holds, is left out: logged (WARN)
	 * and named in a {@code Warning: 299} header, so one lost file does not take its study down.
	 * When nothing is left: 404 naming what is missing.
	 */
	private Servable servable(DicomWebRequest theRequest, List<StudyStore.InstanceRef> theRefs, String theStudy) {
		List<Binary> all = myStore.binariesOrNull(theRefs, theRequest.details());
		List<StudyStore.InstanceRef> refs = new ArrayList<>(theRefs.size());
		List<Binary> binaries = new ArrayList<>(theRefs.size());
		List<StudyStore.InstanceRef> missing = new ArrayList<>();
		for (int i = 0; i < theRefs.size(); i++) {
			Binary b = all.get(i);
			if (b == null || !myStore.readable(b)) {
				missing.add(theRefs.get(i));
			} else {
				refs.add(theRefs.get(i));
				binaries.add(b);
			}
		}
		if (missing.isEmpty()) {
			return new Servable(refs, binaries, missing);
		}
		ourLog.warn("DICOMweb {} {}: the stored bytes of {} of {} instance(s) of study {} are missing: {}",
				theRequest.servletRequest().getMethod(), theRequest.servletRequest().getPathInfo(), missing.size(), theRefs.size(),
				theStudy, missing.stream().map(r -> r.sopInstanceUid() + " (Binary/" + r.binaryId() + ")").toList());
		if (refs.isEmpty()) {
			throw missingBytes(missing);
		}
		theRequest.servletResponse().addHeader("Warning", theRequest.warning("The stored bytes of " + missing.size() + " instance"
				+ (missing.size() == 1 ? " are" : "s are") + " missing; served without " + (missing.size() == 1 ? "it" : "them")
				+ ": " + uidList(missing)));
		return new Servable(refs, binaries, missing);
	}

	private static String uidList(List<StudyStore.InstanceRef> theRefs) {
		StringBuilder out = new StringBuilder();
		for (int i = 0; i < theRefs.size() && i < WARNING_UIDS; i++) {
			out.append(i == 0 ? "" : ", ").append(theRefs.get(i).sopInstanceUid());
		}
		if (theRefs.size() > WARNING_UIDS) {
			out.append(" and ").append(theRefs.size() - WARNING_UIDS).append(" more");
		}
		return out.toString();
	}

	/** 404 for instances listed in their study whose stored bytes are missing. */
	private static DicomWebException missingBytes(List<StudyStore.InstanceRef> theMissing) {
		if (theMissing.size() == 1) {
			StudyStore.InstanceRef ref = theMissing.get(0);
			return DicomWebException.notFound("Instance " + ref.sopInstanceUid() + " is listed in its study but its stored bytes (Binary/"
					+ ref.binaryId() + ") are missing; DELETE it to remove the entry, or store the instance again");
		}
		return DicomWebException.notFound("The stored bytes of all " + theMissing.size() + " instances asked for are missing: "
				+ uidList(theMissing) + "; DELETE them to remove the entries, or store the instances again");
	}

	/** The Binary of one instance for frames and bulk data; 404 when its bytes are missing. */
	private Binary readableBinary(DicomWebRequest theRequest, StudyStore.InstanceRef theRef) {
		Binary binary = myStore.binariesOrNull(List.of(theRef), theRequest.details()).get(0);
		if (binary == null || !myStore.readable(binary)) {
			ourLog.warn("DICOMweb {} {}: the stored bytes of instance {} (Binary/{}) are missing", theRequest.servletRequest().getMethod(),
					theRequest.servletRequest().getPathInfo(), theRef.sopInstanceUid(), theRef.binaryId());
			throw missingBytes(List.of(theRef));
		}
		return binary;
	}

	/** A deflated data set beyond {@code dicomfhir.dicomweb.max-inflated-bytes}: 422, not a server error. */
	private static DicomWebException tooLarge(org.dicomfhir.bridge.DicomLimitException theError, StudyStore.InstanceRef theRef, long theMax) {
		ourLog.warn("DICOMweb: instance {} (Binary/{}) cannot be served within the limits: {}", theRef.sopInstanceUid(), theRef.binaryId(),
				theError.getMessage());
		return new DicomWebException(422, "Instance " + theRef.sopInstanceUid() + " cannot be served: " + theError.getMessage()
				+ " (dicomfhir.dicomweb.max-inflated-bytes = " + theMax + "); retrieve the whole instance instead");
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
		// The Binaries are read even when the JSON is cached: their authorization rules apply.
		// Instances whose bytes are missing are left out, with a Warning.
		Servable readable = servable(theRequest, refs, theStudy);
		List<StudyStore.InstanceRef> servedRefs = readable.refs();
		List<Binary> binaries = readable.binaries();
		response.setStatus(200);
		if (readable.missing().isEmpty()) {
			response.setHeader("ETag", etag);
		}
		// exactly this media type: clients (dicomweb-client) compare it verbatim; JSON is UTF-8 (RFC 8259)
		response.setContentType("application/dicom+json");
		try (OutputStream out = response.getOutputStream()) {
			out.write('[');
			// Instances are read and parsed on all cores, a window ahead of the one being written,
			// and written in order.
			java.util.ArrayDeque<Future<String>> ahead = new java.util.ArrayDeque<>();
			int next = 0;
			try {
				for (int i = 0; i < servedRefs.size(); i++) {
					for (; next < servedRefs.size() && next < i + METADATA_WINDOW; next++) {
						Binary binary = binaries.get(next);
						StudyStore.InstanceRef ref = servedRefs.get(next);
						String url = theRequest.instanceUrl(ref);
						ahead.add(myParsers.submit(() ->
								myMetadata.get(ref.binaryId(), url, () -> DicomNative.dicomJson(myStore.bytes(binary), url))));
					}
					if (i > 0) {
						out.write(',');
					}
					out.write(await(ahead.poll()).getBytes(StandardCharsets.UTF_8));
				}
			} finally {
				ahead.forEach(f -> f.cancel(false));
			}
			out.write(']');
		}
	}

	/**
	 * What the client accepts for frames and bulk data; {@code decode}: the stored compressed
	 * frames are to be decoded to Explicit VR Little Endian.
	 */
	record BulkChoice(boolean multipart, String mediaType, String transferSyntax, boolean decode) {
		BulkChoice(boolean theMultipart, String theMediaType, String theTransferSyntax) {
			this(theMultipart, theMediaType, theTransferSyntax, false);
		}
	}

	private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

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

	/**
	 * Accept negotiation for bulk data (PS3.18 §8.7.3.3, §8.7.4): multipart/related with type
	 * application/octet-stream (or the stored compressed media type), or a single part. Bytes are
	 * sent as stored: {@code transfer-syntax=*}, none, or the stored one; native pixel data also
	 * satisfies Explicit VR Little Endian (its bytes are served little endian).
	 */
	static BulkChoice negotiateBulk(String theAccept, String theStoredTs, boolean theSinglePartPossible) {
		return negotiateBulk(theAccept, theStoredTs, theSinglePartPossible, false);
	}

	/**
	 * {@link #negotiateBulk(String, String, boolean)}, and with {@code theDecodable} (frames of
	 * compressed pixel data) application/octet-stream with {@code transfer-syntax=1.2.840.10008.1.2.1},
	 * or without a transfer-syntax (PS3.18 §8.7.3: Explicit VR Little Endian is the default of octet-stream), is the decoded
	 * frames. {@code *}, {@code *}{@code /*} and no Accept stay as stored.
	 */
	static BulkChoice negotiateBulk(String theAccept, String theStoredTs, boolean theSinglePartPossible, boolean theDecodable) {
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

	/**
	 * WADO-RS frames: {@code …/instances/{i}/frames/1,3,5}, one part per frame in request order.
	 * At most {@code dicomfhir.dicomweb.wado-max-frames} frames, repeats included (400 beyond);
	 * the core locates each distinct frame once and a repeat sends the same bytes again.
	 */
	void frames(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theFrameList) throws IOException {
		String[] numbers = theFrameList.split(",", -1);
		int max = myProperties.getWadoMaxFrames();
		if (numbers.length > max) {
			throw DicomWebException.badRequest("A frames request may name at most " + max + " frames, repeats included"
					+ " (dicomfhir.dicomweb.wado-max-frames); this one names " + numbers.length);
		}
		StudyStore.InstanceRef ref = instanceRef(theRequest, theStudy, theSeries, theInstance);
		Binary binary = readableBinary(theRequest, ref);
		try (StoredInstance stored = myStore.open(binary)) {
			frames(theRequest, theInstance, theFrameList, numbers, ref, stored);
		}
	}

	private void frames(DicomWebRequest theRequest, String theInstance, String theFrameList, String[] theNumbers,
			StudyStore.InstanceRef theRef, StoredInstance theStored) throws IOException {
		// each distinct frame number is located once; index[i] = its position among the distinct ones
		java.util.Map<String, Integer> distinct = new java.util.LinkedHashMap<>();
		int[] index = new int[theNumbers.length];
		for (int i = 0; i < theNumbers.length; i++) {
			String n = theNumbers[i].trim();
			Integer at = distinct.get(n);
			if (at == null) {
				at = distinct.size();
				distinct.put(n, at);
			}
			index[i] = at;
		}
		String json;
		try {
			json = theStored.frames(String.join(",", distinct.keySet()), myProperties.getMaxInflatedBytes());
		} catch (org.dicomfhir.bridge.DicomLimitException e) {
			throw tooLarge(e, theRef, myProperties.getMaxInflatedBytes());
		}
		com.fasterxml.jackson.databind.JsonNode result = JSON.readTree(json);
		String storedTs = servedTs(result.path("transferSyntaxUid").asText(theRef.transferSyntaxUid()));
		com.fasterxml.jackson.databind.JsonNode frames = result.path("frames");
		List<List<Object>> located = new ArrayList<>();
		List<String> tokens = new ArrayList<>(distinct.keySet());
		for (int i = 0; i < frames.size(); i++) {
			if (frames.get(i).isNull()) {
				long count = result.path("numberOfFrames").asLong();
				throw DicomWebException.notFound("Frame " + tokens.get(i) + " does not exist: instance " + theInstance
						+ (count == 0 ? " has no pixel data" : " has " + count + " frame" + (count == 1 ? "" : "s")));
			}
			located.add(chunks(frames.get(i)));
		}
		List<List<Object>> parts = new ArrayList<>(theNumbers.length);
		for (int i : index) {
			parts.add(located.get(i));
		}
		BulkChoice choice = negotiateBulk(theRequest.header("Accept"), storedTs, parts.size() == 1, true);
		String base = theRequest.instanceUrl(theRef) + "/frames/";
		List<String> locations = new ArrayList<>();
		for (String n : theNumbers) {
			locations.add(base + n.trim());
		}
		String etag = "\"" + theRef.binaryId() + "/frames/" + theFrameList.replace(" ", "") + "\"";
		if (choice.decode()) {
			// the decoded frames replace the located ones; a frame is asked for once however often it repeats
			long max = myProperties.getMaxInflatedBytes();
			byte[] bytes = theStored.bytes();
			byte[] decoded = refusal(theRef, max, () -> DicomNative.transcodeFrames(bytes, String.join(",", distinct.keySet()), max));
			int length = decoded.length / distinct.size();
			parts.clear();
			for (int i : index) {
				parts.add(List.of(java.util.Arrays.copyOfRange(decoded, i * length, (i + 1) * length)));
			}
			storedTs = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN;
			etag = etag(List.of(theRef), "frames/" + theFrameList.replace(" ", "") + " decoded core " + CORE_VERSION);
		}
		sendParts(theRequest, choice, storedTs, theStored, parts, locations, etag);
	}

	/** WADO-RS bulk data: the value a BulkDataURI of the metadata names. */
	void bulkdata(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theTagPath) throws IOException {
		StudyStore.InstanceRef ref = instanceRef(theRequest, theStudy, theSeries, theInstance);
		Binary binary = readableBinary(theRequest, ref);
		try (StoredInstance stored = myStore.open(binary)) {
			bulkdata(theRequest, theInstance, theTagPath, ref, stored);
		}
	}

	private void bulkdata(DicomWebRequest theRequest, String theInstance, String theTagPath, StudyStore.InstanceRef theRef,
			StoredInstance theStored) throws IOException {
		String json;
		try {
			json = theStored.bulkdata(theTagPath, myProperties.getMaxInflatedBytes());
		} catch (org.dicomfhir.bridge.DicomLimitException e) {
			throw tooLarge(e, theRef, myProperties.getMaxInflatedBytes());
		}
		if (json == null) {
			throw DicomWebException.notFound("Instance " + theInstance + " has no bulk data at " + theTagPath);
		}
		com.fasterxml.jackson.databind.JsonNode result = JSON.readTree(json);
		List<List<Object>> parts = new ArrayList<>();
		for (com.fasterxml.jackson.databind.JsonNode p : result.path("parts")) {
			parts.add(chunks(p));
		}
		String storedTs = theRef.transferSyntaxUid();
		boolean pixel = theTagPath.equalsIgnoreCase("7FE00010");
		// Only the Pixel Data of an encapsulated instance is compressed; other values are plain bytes.
		String tsForNegotiation = pixel ? servedTs(storedTs) : TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN;
		BulkChoice choice = negotiateBulk(theRequest.header("Accept"), tsForNegotiation, parts.size() == 1);
		List<String> locations = new ArrayList<>();
		String url = theRequest.instanceUrl(theRef) + "/bulkdata/" + theTagPath;
		for (int i = 0; i < parts.size(); i++) {
			locations.add(url);
		}
		sendParts(theRequest, choice, tsForNegotiation, theStored, parts, locations, "\"" + theRef.binaryId() + "/bulkdata/" + theTagPath + "\"");
	}

	private StudyStore.InstanceRef instanceRef(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) {
		if (theSeries == null || theInstance == null) {
			throw DicomWebException.notFound("Frames and bulk data are resources of an instance: /studies/{s}/series/{se}/instances/{i}/…");
		}
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		return StudyStore.instances(study, theStudy, theSeries, theInstance).get(0);
	}

	/** A chunk list of the core: {@code [offset,length]} of the instance bytes, or base64 bytes. */
	private static List<Object> chunks(com.fasterxml.jackson.databind.JsonNode theChunks) {
		List<Object> out = new ArrayList<>();
		for (com.fasterxml.jackson.databind.JsonNode c : theChunks) {
			if (c.isArray()) {
				out.add(new long[] {c.get(0).asLong(), c.get(1).asLong()});
			} else {
				out.add(java.util.Base64.getDecoder().decode(c.asText()));
			}
		}
		return out;
	}

	private static long length(List<Object> theChunks) {
		long n = 0;
		for (Object c : theChunks) {
			n += c instanceof long[] r ? r[1] : ((byte[]) c).length;
		}
		return n;
	}

	private static void write(OutputStream theOut, StoredInstance theStored, List<Object> theChunks) throws IOException {
		for (Object c : theChunks) {
			if (c instanceof long[] r) {
				theStored.copy(theOut, r[0], r[1]);
			} else {
				theOut.write((byte[]) c);
			}
		}
	}

	private void sendParts(DicomWebRequest theRequest, BulkChoice theChoice, String theStoredTs, StoredInstance theStored,
			List<List<Object>> theParts, List<String> theLocations, String theEtag) throws IOException {
		HttpServletResponse response = theRequest.servletResponse();
		if (notModified(theRequest, response, theEtag)) {
			return;
		}
		String ts = theStoredTs == null ? "" : "; transfer-syntax=" + theStoredTs;
		response.setStatus(200);
		response.setHeader("ETag", theEtag);
		boolean head = "HEAD".equals(theRequest.servletRequest().getMethod());
		if (!theChoice.multipart()) {
			response.setContentType(theChoice.mediaType() + ts);
			response.setHeader("Content-Location", theLocations.get(0));
			response.setContentLengthLong(length(theParts.get(0)));
			if (!head) {
				try (OutputStream out = response.getOutputStream()) {
					write(out, theStored, theParts.get(0));
				}
			}
			return;
		}
		String boundary = "dicomfhir-" + UUID.randomUUID();
		response.setContentType("multipart/related; type=\"" + theChoice.mediaType() + "\"; boundary=" + boundary);
		if (head) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < theParts.size(); i++) {
				String partHead = "--" + boundary + "\r\n"
						+ "Content-Type: " + theChoice.mediaType() + ts + "\r\n"
						+ "Content-Location: " + theLocations.get(i) + "\r\n"
						+ "Content-Length: " + length(theParts.get(i)) + "\r\n\r\n";
				out.write(partHead.getBytes(StandardCharsets.US_ASCII));
				write(out, theStored, theParts.get(i));
				out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
			}
			out.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
		}
	}

	private static String tsParam(StudyStore.InstanceRef theRef) {
		return theRef.transferSyntaxUid() == null ? "" : "; transfer-syntax=" + theRef.transferSyntaxUid();
	}

	/**
	 * Accept negotiation for instances (PS3.18 §8.7.3). Absent transfer-syntax is served as
	 * stored, like {@code *} (no decoding on the default path); {@code 1.2.840.10008.1.2.1} is
	 * transcoded, any other syntax than the stored one 406 (see docs/dicomweb.md).
	 */
	static Choice negotiate(String theAccept, boolean theSingleInstance) {
		if (theAccept == null || theAccept.isBlank()) {
			return new Choice(true, null);
		}
		List<String> refused = new ArrayList<>();
		for (MediaRange accepted : MediaRange.parseAll(theAccept)) {
			String mime = accepted.mime();
			String type = accepted.type();
			String ts = accepted.transferSyntax();
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
			refused.add(accepted.text());
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

	/** One media range of an Accept header, with the two parameters DICOMweb negotiates on. */
	record MediaRange(String text, String mime, String type, String transferSyntax) {
		static List<MediaRange> parseAll(String theAccept) {
			List<MediaRange> out = new ArrayList<>();
			for (String range : splitOutsideQuotes(theAccept, ',')) {
				List<String> parts = splitOutsideQuotes(range, ';');
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
				out.add(new MediaRange(range.trim(), parts.get(0).trim().toLowerCase(Locale.ROOT), type, ts));
			}
			return out;
		}
	}
}
