package org.dicomfhir.example;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.util.HapiExtensions;
import jakarta.servlet.http.HttpServletRequest;
import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.BeanWrapperImpl;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import static org.dicomfhir.example.Part10.element;
import static org.dicomfhir.example.Part10.le;
import static org.dicomfhir.example.Part10.text;
import static org.dicomfhir.example.Part10.uid;
import static org.dicomfhir.example.Part10.writeHeader;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * STOW-RS of an instance larger than the spool threshold (docs/dicomweb.md, "Limits"): the part
 * goes to a temporary file, is parsed from a memory map and copied from the file into the binary
 * store, so the request thread allocates a small fraction of the instance's size, whatever that
 * is. The instance (150 MiB, generated on the fly into a file and streamed, never held by the
 * test) is then listed, retrieved byte for byte, and removed again.
 */
class DicomWebSpoolTest extends AbstractServerTest {

	private static final int ROWS = 512;
	private static final int COLUMNS = 512;
	private static final int FRAMES = 400; // 200 MiB of 16-bit pixels
	private static final String SC_MULTIFRAME_WORD = "1.2.840.10008.5.1.4.1.1.7.3";

	/** What the request thread allocated, from its start (FHIR PRE_PROCESSED, before the facade) to now. */
	@Interceptor
	public static class AllocationProbe {
		final Map<Long, Long> myStart = new ConcurrentHashMap<>();

		@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED, order = -10_000)
		public boolean start(HttpServletRequest theRequest) {
			if (theRequest.getHeader("X-Test-Allocation") != null) {
				myStart.put(Thread.currentThread().getId(), threads().getCurrentThreadAllocatedBytes());
			}
			return true;
		}

		/** Bytes allocated by each probed thread since its request started. */
		long allocatedSinceStart() {
			long max = 0;
			for (Map.Entry<Long, Long> e : myStart.entrySet()) {
				max = Math.max(max, threads().getThreadAllocatedBytes(e.getKey()) - e.getValue());
			}
			return max;
		}

		static com.sun.management.ThreadMXBean threads() {
			return (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
		}
	}

	@Test
	void aLargeInstanceIsSpooledStoredAndServedWithAFlatHeap(@TempDir Path theTemp) throws Exception {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		String sop = DicomFixtures.newUid(DicomFixtures.CT_SMALL_SOP.length());
		Path file = theTemp.resolve("large.dcm");
		String sha = writeLargeInstance(file, study, series, sop);
		long size = Files.size(file);
		assertThat(size).isGreaterThan(200L << 20);

		Path spoolDir = Files.createDirectories(theTemp.resolve("spool"));
		BeanWrapperImpl props = new BeanWrapperImpl(bean(DicomWebProperties.class));
		boolean spoolable = props.isWritableProperty("stowSpoolDirectory");
		Object spoolBefore = spoolable ? props.getPropertyValue("stowSpoolDirectory") : null;
		if (spoolable) {
			props.setPropertyValue("stowSpoolDirectory", spoolDir.toString());
		}
		RestfulServer server = bean(RestfulServer.class);
		AllocationProbe probe = new AllocationProbe();
		server.registerInterceptor(probe);
		MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
		long heapBefore;
		HttpResponse<byte[]> r;
		try {
			System.gc();
			heapBefore = memory.getHeapMemoryUsage().getUsed();
			r = send(streamedStow(file).header("X-Test-Allocation", "1").build());
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		} finally {
			server.unregisterInterceptor(probe);
			if (spoolable) {
				props.setPropertyValue("stowSpoolDirectory", spoolBefore);
			}
		}
		long allocated = probe.allocatedSinceStart();
		System.gc();
		long heapAfter = memory.getHeapMemoryUsage().getUsed();
		System.out.printf("DicomWebSpoolTest: %d MiB instance; STOW request thread allocated %.1f MiB; heap after GC %+.1f MiB%n",
				size >> 20, allocated / 1048576.0, (heapAfter - heapBefore) / 1048576.0);
		// In memory the part cost at least its size (a growing buffer, then its copy); spooled, the
		// request thread allocates its first 16 MiB in a growing buffer, then buffers of fixed size.
		assertThat(allocated).as("bytes allocated by the STOW request thread").isLessThan(96L << 20);
		assertThat(heapAfter - heapBefore).as("heap kept after the request").isLessThan(32L << 20);
		try (Stream<Path> left = Files.list(spoolDir)) {
			assertThat(left).as("spooled files left behind").isEmpty();
		}
		assertThat(json(r).at("/00081199/Value/0/00081155/Value/0").asText()).isEqualTo(sop);

		// listed in its study (QIDO reads the ImagingStudy the study writer wrote from the ledger)
		HttpResponse<byte[]> q = get("dicomweb/studies/" + study + "/instances", "application/dicom+json");
		assertThat(q.statusCode()).as(bodyText(q)).isEqualTo(200);
		assertThat(values(json(q), "00080018")).containsExactly(sop);
		assertThat(values(json(q), "00280008")).containsExactly(String.valueOf(FRAMES));

		// the Binary is the content address, externalized to the binary store
		HttpResponse<byte[]> binary = getJson("Binary/" + sha);
		assertThat(binary.statusCode()).as(bodyText(binary)).isEqualTo(200);
		assertThat(bodyText(binary)).contains("externalized-binary-id").contains("\"application/dicom\"");

		// WADO-RS retrieve streams the stored bytes: their SHA-256 is the Binary's id
		String instance = "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop;
		HttpResponse<InputStream> retrieved = http().send(request(instance).header("Accept", "application/dicom").GET().build(),
				HttpResponse.BodyHandlers.ofInputStream());
		assertThat(retrieved.statusCode()).isEqualTo(200);
		assertThat(sha256(retrieved.body())).isEqualTo(sha);
		// a frame, read from the blob file in place
		HttpResponse<byte[]> frame = get(instance + "/frames/" + FRAMES, "application/octet-stream");
		assertThat(frame.statusCode()).as(bodyText(frame)).isEqualTo(200);
		assertThat(frame.body()).hasSize(ROWS * COLUMNS * 2);

		// the same bytes again: the stored blob is reused, no new version
		r = send(streamedStow(file).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		HttpResponse<byte[]> again = getJson("Binary/" + sha);
		assertThat(parse(Binary.class, again).getMeta().getVersionId()).isEqualTo(parse(Binary.class, binary).getMeta().getVersionId());

		// removed again (disk): DICOMweb DELETE, then expunge, which drops the blob file (the
		// Provenance of the study writes references the Binary: deleted first, or expunge fails)
		assertThat(delete("dicomweb/studies/" + study).statusCode()).isEqualTo(204);
		org.hl7.fhir.r4.model.Bundle provenances = parse(org.hl7.fhir.r4.model.Bundle.class,
				getJson("Provenance?entity=Binary/" + sha + "&_elements=id&_count=200"));
		for (org.hl7.fhir.r4.model.Bundle.BundleEntryComponent e : provenances.getEntry()) {
			assertThat(delete("Provenance/" + e.getResource().getIdElement().getIdPart()).statusCode()).isEqualTo(200);
		}
		HttpResponse<byte[]> expunge = post("Binary/" + sha + "/$expunge", FHIR_JSON,
				("{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"expungeDeletedResources\",\"valueBoolean\":true},"
						+ "{\"name\":\"expungePreviousVersions\",\"valueBoolean\":true}]}").getBytes(StandardCharsets.UTF_8));
		assertThat(expunge.statusCode()).as(bodyText(expunge)).isEqualTo(200);
		try (Stream<Path> blobs = Files.walk(binstoreDir())) {
			assertThat(blobs.filter(f -> f.toString().endsWith(".bin")).filter(f -> f.toFile().length() == size))
					.as("the blob file of the expunged instance").isEmpty();
		}
	}

	/**
	 * A FHIR client cannot use the externalized path: a DICOM Binary naming a blob instead of
	 * carrying its bytes is refused, new or stored, and nothing is created.
	 */
	@Test
	void aClientCannotStoreADicomBinaryByNamingABlob() {
		byte[] ct = DicomFixtures.ctInstance(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid());
		String sha = DicomFixtures.sha256(ct);
		HttpResponse<byte[]> stored = send(stowRequest("dicomweb/studies", List.of(ct)).build());
		assertThat(stored.statusCode()).as(bodyText(stored)).isEqualTo(200);
		SystemRequestDetails system = new SystemRequestDetails();
		system.getUserData().put(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY, Boolean.FALSE);
		Binary current = bean(DaoRegistry.class).getResourceDao(Binary.class).read(new IdType("Binary", sha), system);
		String blob = current.getDataElement().getExtensionByUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_ID).getValue().primitiveValue();
		assertThat(blob).isNotBlank();

		String other = DicomFixtures.sha256((sha + "other").getBytes(StandardCharsets.US_ASCII));
		for (String id : List.of(other, sha)) {
			String body = "{\"resourceType\":\"Binary\",\"id\":\"" + id + "\",\"contentType\":\"application/dicom\","
					+ "\"_data\":{\"extension\":[{\"url\":\"http://hapifhir.io/fhir/StructureDefinition/externalized-binary-id\","
					+ "\"valueString\":\"" + blob + "\"},{\"url\":\"http://hapifhir.io/fhir/StructureDefinition/externalized-binary-hash-sha256\","
					+ "\"valueString\":\"" + id + "\"}]}}";
			HttpResponse<byte[]> r = put("Binary/" + id, FHIR_JSON, body.getBytes(StandardCharsets.UTF_8));
			assertThat(r.statusCode()).as(id + ": " + bodyText(r)).isBetween(400, 499);
		}
		assertThat(getJson("Binary/" + other).statusCode()).isEqualTo(404);
	}

	// ------------------------------------------------------------------ helpers

	/** STOW-RS of the file as one part, streamed with its Content-Length. */
	private HttpRequest.Builder streamedStow(Path theFile) throws IOException {
		String boundary = "spool-" + System.nanoTime();
		byte[] head = ("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
		byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII);
		long length = head.length + Files.size(theFile) + tail.length;
		HttpRequest.BodyPublisher body = HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> {
			try {
				return new SequenceInputStream(java.util.Collections.enumeration(List.of(
						new ByteArrayInputStream(head), Files.newInputStream(theFile), new ByteArrayInputStream(tail))));
			} catch (IOException e) {
				throw new UncheckedIOException(e);
			}
		}), length);
		return request("dicomweb/studies")
				.timeout(java.time.Duration.ofMinutes(10))
				.header("Content-Type", MULTIPART_DICOM + "; boundary=" + boundary)
				.header("Accept", "application/dicom+json")
				.POST(body);
	}

	private static String sha256(InputStream theIn) throws Exception {
		MessageDigest digest = MessageDigest.getInstance("SHA-256");
		try (InputStream in = new DigestInputStream(theIn, digest)) {
			in.transferTo(OutputStream.nullOutputStream());
		}
		return HexFormat.of().formatHex(digest.digest());
	}

	/**
	 * A valid Part-10 multi-frame secondary capture (Explicit VR Little Endian) of
	 * {@value #FRAMES} frames of {@value #ROWS}x{@value #COLUMNS} 16-bit pixels, written in 1 MiB
	 * chunks; returns its SHA-256.
	 */
	static String writeLargeInstance(Path theFile, String theStudy, String theSeries, String theSop) throws Exception {
		MessageDigest digest = MessageDigest.getInstance("SHA-256");
		try (OutputStream out = new DigestOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(theFile), 1 << 20), digest)) {
			out.write(header(theStudy, theSeries, theSop, "SPOOL-" + theStudy.substring(theStudy.length() - 20), ROWS, COLUMNS, FRAMES));
			long pixels = (long) ROWS * COLUMNS * 2 * FRAMES;
			writeHeader(out, 0x7FE0, 0x0010, "OW", pixels);
			byte[] chunk = new byte[1 << 20];
			for (long done = 0, n = 0; done < pixels; done += chunk.length, n++) {
				for (int i = 0; i < chunk.length; i++) {
					chunk[i] = (byte) (i * 31 + n * 7);
				}
				out.write(chunk, 0, (int) Math.min(chunk.length, pixels - done));
			}
		}
		return HexFormat.of().formatHex(digest.digest());
	}

	/** Preamble, File Meta Information and the data set up to (not including) Pixel Data. */
	static byte[] header(String theStudy, String theSeries, String theSop, String thePatientId, int theRows, int theColumns, int theFrames)
			throws IOException {
		ByteArrayOutputStream file = new ByteArrayOutputStream();
		Part10.writePreambleAndFileMeta(file, SC_MULTIFRAME_WORD, theSop, "1.2.840.10008.1.2.1");
		element(file, 0x0008, 0x0016, "UI", uid(SC_MULTIFRAME_WORD));
		element(file, 0x0008, 0x0018, "UI", uid(theSop));
		element(file, 0x0008, 0x0060, "CS", text("OT"));
		element(file, 0x0010, 0x0010, "PN", text("Spool^Large"));
		element(file, 0x0010, 0x0020, "LO", text(thePatientId));
		element(file, 0x0020, 0x000D, "UI", uid(theStudy));
		element(file, 0x0020, 0x000E, "UI", uid(theSeries));
		element(file, 0x0020, 0x0013, "IS", text("1"));
		element(file, 0x0028, 0x0002, "US", le(2, 1));
		element(file, 0x0028, 0x0004, "CS", text("MONOCHROME2"));
		element(file, 0x0028, 0x0008, "IS", text(String.valueOf(theFrames)));
		element(file, 0x0028, 0x0010, "US", le(2, theRows));
		element(file, 0x0028, 0x0011, "US", le(2, theColumns));
		element(file, 0x0028, 0x0100, "US", le(2, 16));
		element(file, 0x0028, 0x0101, "US", le(2, 16));
		element(file, 0x0028, 0x0102, "US", le(2, 15));
		element(file, 0x0028, 0x0103, "US", le(2, 0));
		return file.toByteArray();
	}
}
