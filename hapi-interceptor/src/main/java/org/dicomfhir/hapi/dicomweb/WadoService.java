package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomNative;
import org.dicomfhir.bridge.TransferSyntax;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.ImagingStudy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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

	private static final org.slf4j.Logger ourLog = org.slf4j.LoggerFactory.getLogger(WadoService.class);

	private final StudyStore myStore;
	private final DicomWebProperties myProperties;
	private final DicomJsonCache myMetadata;
	private final RenderedService myRendering;
	private final BulkDataService myBulkData;
	/** Reads and parses instances for metadata requests (one thread per core, idle ones exit). */
	private final ExecutorService myParsers;
	/** How many instances a metadata request parses ahead of the one it writes. */
	private static final int METADATA_WINDOW = 16;

	public WadoService(StudyStore theStore, long theMetadataCacheChars, DicomWebProperties theProperties) {
		this(theStore, theMetadataCacheChars, theProperties, new RenderedImageCache(theProperties::getRenderedCacheBytes));
	}

	public WadoService(StudyStore theStore, long theMetadataCacheChars, DicomWebProperties theProperties, RenderedImageCache theImages) {
		myStore = theStore;
		myProperties = theProperties;
		myMetadata = new DicomJsonCache(theMetadataCacheChars);
		myRendering = new RenderedService(theStore, theProperties, theImages);
		myBulkData = new BulkDataService(theStore, theProperties);
		int cores = Runtime.getRuntime().availableProcessors();
		ThreadPoolExecutor parsers = new ThreadPoolExecutor(cores, cores, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
			Thread t = new Thread(r, "dicomweb-metadata");
			t.setDaemon(true);
			return t;
		});
		parsers.allowCoreThreadTimeOut(true);
		myParsers = parsers;
	}

	/** Frames and bulk data of the instances this service retrieves. */
	BulkDataService bulkData() {
		return myBulkData;
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

	void retrieve(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) throws IOException {
		AcceptNegotiation.InstanceChoice choice = AcceptNegotiation.instances(theRequest.header("Accept"), theInstance != null);
		retrieve(theRequest, theStudy, theSeries, theInstance, choice);
	}

	/** WADO-URI with contentType=application/dicom: the stored instance, single part. */
	void retrieveUri(DicomWebRequest theRequest, WadoUri theUri) throws IOException {
		retrieve(theRequest, theUri.studyUid(), theUri.seriesUid(), theUri.objectUid(), new AcceptNegotiation.InstanceChoice(false, theUri.transferSyntax()));
	}

	private void retrieve(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance,
			AcceptNegotiation.InstanceChoice choice)
			throws IOException {
		ImagingStudy study = myStore.studyToShow(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		boolean transcode = false;
		if (choice.transferSyntax() != null && !AcceptNegotiation.ANY_TS.equals(choice.transferSyntax())) {
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
		String etag = transcode
				? EntityTags.computed(refs, "transfer-syntax=" + TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN)
				: EntityTags.of(refs, "");
		if (EntityTags.notModified(theRequest, response, etag)) {
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
		MultipartWriter parts = new MultipartWriter("application/dicom");
		response.setContentType(parts.contentType());
		if ("HEAD".equals(theRequest.servletRequest().getMethod())) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < refs.size(); i++) {
				StudyStore.InstanceRef ref = refs.get(i);
				Binary binary = binaries.get(i);
				parts.part(out, "application/dicom" + tsParam(ref), theRequest.instanceUrl(ref), ref.size(), o -> myStore.write(binary, o));
			}
			parts.close(out);
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
						RetrieveErrors.refusal(theRefs.get(i), max, () -> {
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
		MultipartWriter parts = new MultipartWriter("application/dicom");
		response.setContentType(parts.contentType());
		if (head) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < theRefs.size(); i++) {
				StudyStore.InstanceRef ref = theRefs.get(i);
				byte[] bytes = i == 0 ? first : transcoded(ref, theBinaries.get(i), max, false);
				first = null; // one transcoded instance in memory at a time
				parts.part(out, "application/dicom" + ts, theRequest.instanceUrl(ref), (long) bytes.length, o -> o.write(bytes));
			}
			parts.close(out);
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
				return RetrieveErrors.refusal(theRef, theMax, () -> DicomNative.transcode(bytes, theMax));
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
			throw RetrieveErrors.missingBytes(missing);
		}
		theRequest.servletResponse().addHeader("Warning", theRequest.warning("The stored bytes of " + missing.size() + " instance"
				+ (missing.size() == 1 ? " are" : "s are") + " missing; served without " + (missing.size() == 1 ? "it" : "them")
				+ ": " + RetrieveErrors.uidList(missing)));
		return new Servable(refs, binaries, missing);
	}

	void metadata(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) throws IOException {
		String accept = theRequest.header("Accept");
		if (accept != null && !accept.isBlank()) {
			String a = accept.toLowerCase(Locale.ROOT);
			if (!(a.contains("json") || a.contains("*/*") || a.contains("application/*"))) {
				throw DicomWebException.notAcceptable("Metadata is served as application/dicom+json only (Accept: " + accept + ")");
			}
		}
		ImagingStudy study = myStore.studyToShow(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		HttpServletResponse response = theRequest.servletResponse();
		// The metadata depends on the bytes and on the URL base of the BulkDataURIs.
		String etag = EntityTags.of(refs, theRequest.serviceBase());
		if (EntityTags.notModified(theRequest, response, etag)) {
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

	private static String tsParam(StudyStore.InstanceRef theRef) {
		return theRef.transferSyntaxUid() == null ? "" : "; transfer-syntax=" + theRef.transferSyntaxUid();
	}
}
