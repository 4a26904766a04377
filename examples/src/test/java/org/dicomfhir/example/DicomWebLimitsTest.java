package org.dicomfhir.example;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.dicomfhir.hapi.studywrite.PatientConflictException;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.junit.jupiter.api.Test;
import org.springframework.beans.BeanWrapperImpl;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

import static org.dicomfhir.example.Part10.element;
import static org.dicomfhir.example.Part10.le;
import static org.dicomfhir.example.Part10.text;
import static org.dicomfhir.example.Part10.uid;
import static org.dicomfhir.example.Part10.writeHeader;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Bounded requests (docs/dicomweb.md, "Limits"): every limit answers 4xx with a clear message,
 * decided before a body is read whole; a part refused for its patient is reported as such; an
 * OutOfMemoryError is a 503, not a stack trace. Limits lowered for a test are set on the running
 * server's {@link DicomWebProperties} (read per request) and restored.
 */
class DicomWebLimitsTest extends AbstractServerTest {

	private static final String OCTET = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";

	/** Sets a property of the running facade's DicomWebProperties; returns a restorer. */
	private AutoCloseable limit(String theProperty, Object theValue) {
		BeanWrapperImpl props = new BeanWrapperImpl(bean(DicomWebProperties.class));
		Object before = props.getPropertyValue(theProperty);
		props.setPropertyValue(theProperty, theValue);
		return () -> props.setPropertyValue(theProperty, before);
	}

	// ------------------------------------------------------------------ frames

	@Test
	void framesPerRequestAreCappedDuplicatesIncluded() {
		String instance = storeCt().instance();
		String list = String.join(",", java.util.Collections.nCopies(1001, "1"));
		HttpResponse<byte[]> r = get(instance + "/frames/" + list, OCTET);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(400);
		assertThat(bodyText(r)).contains("1000").contains("frames");
		HttpResponse<byte[]> twice = get(instance + "/frames/1,1", OCTET);
		assertThat(twice.statusCode()).isEqualTo(200);
		assertThat(bodyText(twice).split("Content-Location: ", -1)).hasSize(3);
	}

	// ------------------------------------------------------------------ STOW-RS

	@Test
	void defaultsKeepASmallHeapAlive() {
		DicomWebProperties defaults = new DicomWebProperties();
		BeanWrapperImpl props = new BeanWrapperImpl(defaults);
		// a server with -Xmx1g holds a couple of concurrent STOW requests: see docs/dicomweb.md, "Limits".
		// What a request holds in the heap is bounded; larger parts are spooled to disk.
		assertThat(defaults.getStowMaxInMemoryRequestBytes()).isLessThanOrEqualTo(128L << 20);
		assertThat(defaults.getStowSpoolThresholdBytes()).isLessThanOrEqualTo(64L << 20);
		assertThat(defaults.getStowMaxPartBytes()).isLessThanOrEqualTo(128L << 20);
		assertThat(defaults.getStowMaxSpooledPartBytes()).isLessThanOrEqualTo(Integer.MAX_VALUE);
		assertThat((Long) props.getPropertyValue("stowMaxRequestBytes")).isLessThanOrEqualTo(8L << 30);
		assertThat((Integer) props.getPropertyValue("stowMaxParts")).isPositive();
		assertThat((Integer) props.getPropertyValue("wadoMaxFrames")).isEqualTo(1000);
		assertThat((Long) props.getPropertyValue("maxInflatedBytes")).isLessThanOrEqualTo(256L << 20);
	}

	/** A Content-Length above the limit is refused before the body is read: none is sent here. */
	@Test
	void stowContentLengthAboveTheLimitIsRefusedBeforeTheBodyIsRead() throws IOException {
		URI base = URI.create(baseUrl());
		try (Socket socket = new Socket(base.getHost(), base.getPort())) {
			socket.setSoTimeout(30_000);
			String head = "POST " + base.getPath() + "/dicomweb/studies HTTP/1.1\r\n"
					+ "Host: " + base.getHost() + ":" + base.getPort() + "\r\n"
					+ "Content-Type: multipart/related; type=\"application/dicom\"; boundary=xyz\r\n"
					+ "Accept: application/dicom+json\r\n"
					+ "Content-Length: " + (64L << 30) + "\r\n"
					+ "Connection: close\r\n\r\n";
			OutputStream out = socket.getOutputStream();
			out.write(head.getBytes(StandardCharsets.US_ASCII));
			out.flush();
			String answer = new String(readSome(socket.getInputStream()), StandardCharsets.ISO_8859_1);
			assertThat(answer).startsWith("HTTP/1.1 413");
			assertThat(answer).contains("stow-max-request-bytes");
		}
	}

	private static byte[] readSome(InputStream theIn) throws IOException {
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		byte[] buf = new byte[8192];
		int n;
		while ((n = theIn.read(buf)) > 0) {
			out.write(buf, 0, n);
			if (out.toString(StandardCharsets.ISO_8859_1).contains("\r\n\r\n") && out.size() > 200) {
				break;
			}
		}
		return out.toByteArray();
	}

	/** Without Content-Length (chunked), the bytes are counted as they are read. */
	@Test
	void stowChunkedBodyIsCountedWhileRead() throws Exception {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		List<byte[]> parts = List.of(DicomFixtures.ctInstance(study, series), DicomFixtures.ctInstance(study, series),
				DicomFixtures.ctInstance(study, series));
		String boundary = "chunked-" + System.nanoTime();
		byte[] body = multipartBody(boundary, parts);
		try (AutoCloseable restore = limit("stowMaxRequestBytes", 60_000L)) {
			HttpResponse<byte[]> r = send(request("dicomweb/studies")
					.header("Content-Type", MULTIPART_DICOM + "; boundary=" + boundary)
					.header("Accept", "application/dicom+json")
					.POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body)))
					.build());
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
			assertThat(bodyText(r)).contains("60000").contains("stow-max-request-bytes");
		}
		assertThat(json(get("dicomweb/studies?StudyInstanceUID=" + study, "application/dicom+json"))).isEmpty();
	}

	@Test
	void stowPartsPerRequestAreCapped() {
		List<byte[]> tiny = java.util.Collections.nCopies(1001, "x".getBytes(StandardCharsets.US_ASCII));
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", tiny).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
		assertThat(bodyText(r)).contains("1000").contains("stow-max-parts");
	}

	// ------------------------------------------------------------------ inflated size

	@Test
	void deflatedDataSetsAreInflatedWithinTheLimit() throws Exception {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		String sop = DicomFixtures.newUid(DicomFixtures.CT_SMALL_SOP.length());
		// 300 MiB of zeros in a private element before a 2x2 pixel data: about 300 KB deflated.
		// Refused at ingest (the parse inflates up to 256 MiB): nothing is stored.
		byte[] bomb = deflatedInstance(study, series, sop, 300 << 20);
		assertThat(bomb.length).isLessThan(2 << 20);
		HttpResponse<byte[]> r = send(request("dicomweb/studies")
				.header("Content-Type", "application/dicom").header("Accept", "application/dicom+json")
				.POST(HttpRequest.BodyPublishers.ofByteArray(bomb)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(409);
		assertThat(values(json(r).path("00081198").path("Value"), "00081197")).containsExactly(String.valueOf(0xA900));
		assertThat(get("dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop, "application/dicom").statusCode())
				.isEqualTo(404);
		// a small deflated instance is served, and refused under a lower limit
		String sop2 = DicomFixtures.newUid(DicomFixtures.CT_SMALL_SOP.length());
		byte[] small = deflatedInstance(study, series, sop2, 100_000);
		r = send(request("dicomweb/studies")
				.header("Content-Type", "application/dicom").header("Accept", "application/dicom+json")
				.POST(HttpRequest.BodyPublishers.ofByteArray(small)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		String instance2 = "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop2;
		HttpResponse<byte[]> ok = get(instance2 + "/frames/1", "application/octet-stream");
		assertThat(ok.statusCode()).as(bodyText(ok)).isEqualTo(200);
		assertThat(ok.body()).hasSize(8);
		try (AutoCloseable restore = limit("maxInflatedBytes", 50_000L)) {
			HttpResponse<byte[]> f = get(instance2 + "/frames/1", "application/octet-stream");
			assertThat(f.statusCode()).as(bodyText(f)).isIn(413, 422);
		}
	}

	/**
	 * A Part-10 CT instance in Deflated Explicit VR Little Endian: a private OB element of
	 * {@code thePadding} zero bytes, then 2x2 16-bit pixel data.
	 */
	static byte[] deflatedInstance(String theStudy, String theSeries, String theSop, int thePadding) throws IOException {
		String ctClass = "1.2.840.10008.5.1.4.1.1.2";
		ByteArrayOutputStream file = new ByteArrayOutputStream();
		Part10.writePreambleAndFileMeta(file, ctClass, theSop, "1.2.840.10008.1.2.1.99");
		Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION, true);
		try (DeflaterOutputStream ds = new DeflaterOutputStream(file, deflater, 1 << 16)) {
			element(ds, 0x0008, 0x0016, "UI", uid(ctClass));
			element(ds, 0x0008, 0x0018, "UI", uid(theSop));
			element(ds, 0x0008, 0x0060, "CS", text("CT"));
			element(ds, 0x0010, 0x0010, "PN", text("Deflated^Test"));
			element(ds, 0x0010, 0x0020, "LO", text("DEFLATED-1"));
			element(ds, 0x0020, 0x000D, "UI", uid(theStudy));
			element(ds, 0x0020, 0x000E, "UI", uid(theSeries));
			element(ds, 0x0028, 0x0002, "US", le(2, 1));
			element(ds, 0x0028, 0x0004, "CS", text("MONOCHROME2"));
			element(ds, 0x0028, 0x0010, "US", le(2, 2));
			element(ds, 0x0028, 0x0011, "US", le(2, 2));
			element(ds, 0x0028, 0x0100, "US", le(2, 16));
			element(ds, 0x0028, 0x0101, "US", le(2, 16));
			element(ds, 0x0028, 0x0102, "US", le(2, 15));
			element(ds, 0x0028, 0x0103, "US", le(2, 0));
			element(ds, 0x0029, 0x0010, "LO", text("DEFLATE TEST"));
			writeHeader(ds, 0x0029, 0x1000, "OB", thePadding);
			byte[] zeros = new byte[1 << 20];
			for (int left = thePadding; left > 0; left -= zeros.length) {
				ds.write(zeros, 0, Math.min(left, zeros.length));
			}
			element(ds, 0x7FE0, 0x0010, "OW", new byte[] {1, 0, 2, 0, 3, 0, 4, 0});
		} finally {
			deflater.end();
		}
		return file.toByteArray();
	}

	// ------------------------------------------------------------------ patient conflicts

	/** Simulates the storage hook refusing an instance whose patient conflicts with its study's. */
	@Interceptor
	public static class RefusePatient {
		private final String myBinaryId;

		RefusePatient(String theBinaryId) {
			myBinaryId = theBinaryId;
		}

		@Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
		public void created(IBaseResource theResource) {
			if ("Binary".equals(theResource.fhirType()) && myBinaryId.equals(theResource.getIdElement().getIdPart())) {
				throw new PatientConflictException("PatientID OTHER does not match the study's patient");
			}
		}
	}

	@Test
	void aPartRefusedForItsPatientIsReportedAsAPatientConflict() {
		DicomFixtures.NewSeries series = new DicomFixtures.NewSeries();
		byte[] good = series.instance();
		byte[] refused = series.instance();
		byte[] alone = series.instance();
		IInterceptorService interceptors = bean(IInterceptorService.class);
		List<Object> hooks = new ArrayList<>();
		for (byte[] b : List.of(refused, alone)) {
			hooks.add(new RefusePatient(DicomFixtures.sha256(b)));
		}
		hooks.forEach(interceptors::registerInterceptor);
		try {
			// a batch: its transaction fails, the parts are then stored one by one
			HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(good, refused)).build());
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(202);
			var body = json(r);
			assertThat(body.at("/00081199/Value")).hasSize(1);
			assertThat(body.at("/00081198/Value")).hasSize(1);
			assertThat(body.at("/00081198/Value/0/00081197/Value/0").asInt()).isEqualTo(PatientConflictException.FAILURE_REASON);
			// a single part
			r = send(stowRequest("dicomweb/studies", List.of(alone)).build());
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(409);
			assertThat(json(r).at("/00081198/Value/0/00081197/Value/0").asInt()).isEqualTo(0xC409);
		} finally {
			hooks.forEach(interceptors::unregisterInterceptor);
		}
	}

	// ------------------------------------------------------------------ OutOfMemoryError

	/** Simulates memory running out while a DICOMweb request is served (HAPI wraps what a hook throws). */
	@Interceptor
	public static class OutOfMemory {
		@Hook(Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLED)
		public void preHandled(RequestDetails theRequest) {
			if (theRequest.getHeader("X-Test-Out-Of-Memory") != null) {
				throw new OutOfMemoryError("Java heap space (simulated by the test)");
			}
		}
	}

	@Test
	void outOfMemoryIsA503WithRetryAfter() {
		RestfulServer server = bean(RestfulServer.class);
		OutOfMemory hook = new OutOfMemory();
		server.registerInterceptor(hook);
		try {
			HttpResponse<byte[]> r = send(request("dicomweb/studies?PatientID=nobody")
					.header("Accept", "application/dicom+json").header("X-Test-Out-Of-Memory", "1").GET().build());
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(503);
			assertThat(r.headers().firstValue("Retry-After")).isPresent();
			assertThat(bodyText(r)).contains("memory").doesNotContain("at org.");
			HttpResponse<byte[]> after = get("dicomweb/studies?PatientID=nobody", "application/dicom+json");
			assertThat(after.statusCode()).isEqualTo(200);
		} finally {
			server.unregisterInterceptor(hook);
		}
	}
}
