package org.dicomfhir.example;

import ca.uhn.fhir.context.FhirContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Base class for integration tests against the real example server (HAPI FHIR JPA + the plugin),
 * listening on a random port.
 *
 * <p><b>One server per JVM.</b> Every subclass gets the same Spring context from Spring's test
 * context cache, so the server boots once per {@code mvn test} run. Do not add
 * {@code @TestPropertySource}, {@code @MockitoBean}, {@code @DirtiesContext}, ... to subclasses:
 * each distinct configuration boots a second server. Consequently tests share one database and
 * must not assume it is empty (use unique identifiers/UIDs, or search by what you created).
 *
 * <p>The H2 database and the binary store of this JVM live in a fresh directory
 * {@link #dataDir()} below {@code examples/target/test-data/} (left in place for post-mortems;
 * {@code mvn clean} removes them).
 */
@SpringBootTest(
		classes = ExampleServerApplication.class,
		webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
public abstract class AbstractServerTest {

	/** FHIR JSON, as the server expects in request bodies. */
	public static final String FHIR_JSON = "application/fhir+json";
	protected static final String MULTIPART_DICOM = "multipart/related; type=\"application/dicom\"";

	private static final Path DATA_DIR = createDataDir();
	private static final FhirContext FHIR_CONTEXT = FhirContext.forR4Cached();
	private static final ObjectMapper DICOM_JSON = new ObjectMapper();
	private static final HttpClient HTTP = HttpClient.newBuilder()
			.connectTimeout(Duration.ofSeconds(10))
			.version(HttpClient.Version.HTTP_1_1)
			.build();

	@LocalServerPort
	private int port;

	@Autowired
	private ApplicationContext applicationContext;

	private IGenericClient client;

	@DynamicPropertySource
	static void serverProperties(DynamicPropertyRegistry registry) {
		registry.add("example.data-dir", DATA_DIR::toString);
		// Keep test output readable; failures still log.
		registry.add("hapi.fhir.response-highlighter-enabled", () -> "false");
		// CORS (DicomWebFramesTest, SmartOnFhirTest): one allowed origin, for the server's
		// CorsInterceptor (hapi.fhir.cors; any origin by default: tests/python/test_real_clients.py)
		// and the facade's own. Not overridable in a subclass: Spring registers a superclass's
		// @DynamicPropertySource after the subclass's, so the value set here wins.
		registry.add("dicomfhir.dicomweb.cors-allowed-origins", () -> "https://viewer.test");
		registry.add("hapi.fhir.cors.allowed_origin", () -> "https://viewer.test");
		// Deferred study writes linger longer than any upload takes to answer, so a test can tell
		// that reads wait for them (DicomIngestTest); readers cut the linger short.
		registry.add("dicomfhir.study-write-linger-millis", () -> "10000");
	}

	private static Path createDataDir() {
		String root = System.getProperty("dicomfhir.test.data-root", "target/test-data");
		String name = "run-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-"
				+ ProcessHandle.current().pid();
		try {
			return Files.createDirectories(Paths.get(root, name)).toAbsolutePath();
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	/** {@code http://localhost:PORT/fhir} (no trailing slash). */
	protected String baseUrl() {
		return "http://localhost:" + port + "/fhir";
	}

	/** Absolute URL for a path relative to the FHIR base ({@code "Patient/1"}, {@code "/metadata"}); absolute URLs pass through. */
	protected String url(String pathOrUrl) {
		if (pathOrUrl.startsWith("http://") || pathOrUrl.startsWith("https://")) {
			return pathOrUrl;
		}
		return baseUrl() + (pathOrUrl.startsWith("/") ? "" : "/") + pathOrUrl;
	}

	/** Data directory of this JVM's server; binaries live in {@code binstore/}, H2 in {@code h2/}. */
	protected static Path dataDir() {
		return DATA_DIR;
	}

	protected static Path binstoreDir() {
		return DATA_DIR.resolve("binstore");
	}

	/** The one file of the filesystem binary store that holds exactly these bytes (asserted: one). */
	protected static Path blobFileHolding(byte[] theBytes) {
		List<Path> found = new ArrayList<>();
		try (Stream<Path> files = Files.walk(binstoreDir())) {
			for (Path p : files.filter(Files::isRegularFile).toList()) {
				if (Files.size(p) == theBytes.length && Arrays.equals(Files.readAllBytes(p), theBytes)) {
					found.add(p);
				}
			}
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		assertThat(found).as("blob files holding the instance").hasSize(1);
		return found.get(0);
	}

	/** The server's Spring context (DAOs, DaoRegistry, IInterceptorService, the plugin's beans, ...). */
	protected ApplicationContext applicationContext() {
		return applicationContext;
	}

	protected <T> T bean(Class<T> type) {
		return applicationContext.getBean(type);
	}

	protected static FhirContext fhirContext() {
		return FHIR_CONTEXT;
	}

	/** HAPI generic client (JSON, no capability-statement check) bound to {@link #baseUrl()}. */
	protected IGenericClient client() {
		if (client == null) {
			FHIR_CONTEXT.getRestfulClientFactory().setServerValidationMode(ServerValidationModeEnum.NEVER);
			FHIR_CONTEXT.getRestfulClientFactory().setSocketTimeout(120_000);
			client = FHIR_CONTEXT.newRestfulGenericClient(baseUrl());
			client.setEncoding(EncodingEnum.JSON);
		}
		return client;
	}

	protected static HttpClient http() {
		return HTTP;
	}

	// ---------------------------------------------------------------- raw HTTP helpers

	/** Starts a request to {@code pathOrUrl} (relative to the FHIR base) with a 2 minute timeout. */
	protected HttpRequest.Builder request(String pathOrUrl) {
		return HttpRequest.newBuilder(URI.create(url(pathOrUrl))).timeout(Duration.ofMinutes(2));
	}

	protected HttpResponse<byte[]> send(HttpRequest request) {
		try {
			return HTTP.send(request, HttpResponse.BodyHandlers.ofByteArray());
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	/** GET; {@code accept} may be null (then no Accept header: a Binary comes back as raw bytes). */
	protected HttpResponse<byte[]> get(String pathOrUrl, String accept) {
		HttpRequest.Builder b = request(pathOrUrl).GET();
		if (accept != null) {
			b.header("Accept", accept);
		}
		return send(b.build());
	}

	protected HttpResponse<byte[]> getJson(String pathOrUrl) {
		return get(pathOrUrl, FHIR_JSON);
	}

	protected HttpResponse<byte[]> post(String pathOrUrl, String contentType, byte[] body) {
		return sendBody("POST", pathOrUrl, contentType, body);
	}

	protected HttpResponse<byte[]> put(String pathOrUrl, String contentType, byte[] body) {
		return sendBody("PUT", pathOrUrl, contentType, body);
	}

	/** A request with a body, answered as FHIR JSON. */
	private HttpResponse<byte[]> sendBody(String method, String pathOrUrl, String contentType, byte[] body) {
		return send(request(pathOrUrl)
				.header("Content-Type", contentType)
				.header("Accept", FHIR_JSON)
				.method(method, HttpRequest.BodyPublishers.ofByteArray(body))
				.build());
	}

	protected HttpResponse<byte[]> delete(String pathOrUrl) {
		return send(request(pathOrUrl).header("Accept", FHIR_JSON).DELETE().build());
	}

	/** POSTs a resource as FHIR JSON. */
	protected HttpResponse<byte[]> postResource(String pathOrUrl, IBaseResource resource) {
		return post(pathOrUrl, FHIR_JSON, encode(resource).getBytes(StandardCharsets.UTF_8));
	}

	protected static String encode(IBaseResource resource) {
		return FHIR_CONTEXT.newJsonParser().encodeResourceToString(resource);
	}

	/** Parses a FHIR JSON response body. */
	protected static <T extends IBaseResource> T parse(Class<T> type, HttpResponse<byte[]> response) {
		return FHIR_CONTEXT.newJsonParser().parseResource(type, new String(response.body(), StandardCharsets.UTF_8));
	}

	protected static IBaseResource parse(HttpResponse<byte[]> response) {
		return FHIR_CONTEXT.newJsonParser().parseResource(new String(response.body(), StandardCharsets.UTF_8));
	}

	/**
	 * A STOW-RS request: the parts as one multipart/related body, after a preamble (which readers
	 * must skip, RFC 2046). The caller adds headers (authorization) and sends it.
	 */
	protected HttpRequest.Builder stowRequest(String pathOrUrl, List<byte[]> parts) {
		String boundary = "b0undary-" + System.nanoTime();
		return request(pathOrUrl)
				.header("Content-Type", MULTIPART_DICOM + "; boundary=" + boundary)
				.header("Accept", "application/dicom+json")
				.POST(HttpRequest.BodyPublishers.ofByteArray(multipartBody(boundary, parts)));
	}

	/** A CT instance stored through STOW-RS, in a study and series of its own. */
	protected record StoredCt(String study, String series, String sop, byte[] bytes) {
		/** Its WADO-RS URL, relative to the FHIR base. */
		String instance() {
			return "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop;
		}
	}

	/** Stores a new CT instance (STOW-RS) and waits for its study write (a QIDO does: read-your-writes). */
	protected StoredCt storeCt() {
		StoredCt ct = new StoredCt(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid(), DicomFixtures.newSopUid(), null);
		byte[] bytes = DicomFixtures.ctInstance(ct.study(), ct.series(), ct.sop());
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(bytes)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(json(get("dicomweb/studies/" + ct.study() + "/instances", "application/dicom+json"))).hasSize(1);
		return new StoredCt(ct.study(), ct.series(), ct.sop(), bytes);
	}

	/** The parts as a multipart/related body of application/dicom parts, after a preamble. */
	static byte[] multipartBody(String boundary, List<byte[]> parts) {
		java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
		body.writeBytes("preamble to ignore\r\n".getBytes(StandardCharsets.US_ASCII));
		for (byte[] part : parts) {
			body.writeBytes(("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
			body.writeBytes(part);
			body.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
		}
		body.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
		return body.toByteArray();
	}

	/** The Patient the plugin made the subject of the stored study (found by its Study Instance UID). */
	protected org.hl7.fhir.r4.model.IdType patientOfStudy(String theStudyUid) {
		JsonNode bundle = json(get("ImagingStudy?identifier=urn:dicom:uid%7Curn:oid:" + theStudyUid, FHIR_JSON));
		var patient = new org.hl7.fhir.r4.model.IdType(bundle.at("/entry/0/resource/subject/reference").asText()).toUnqualifiedVersionless();
		assertThat(patient.getResourceType()).isEqualTo("Patient");
		return patient;
	}

	/** A DICOM JSON (or any JSON) answer, parsed; a clear failure when it is not JSON. */
	protected static JsonNode json(HttpResponse<byte[]> theResponse) {
		try {
			return DICOM_JSON.readTree(theResponse.body());
		} catch (IOException e) {
			throw new AssertionError("not JSON: " + bodyText(theResponse), e);
		}
	}

	/** The first value of one attribute in each object of a DICOM JSON array (QIDO answers). */
	protected static List<String> values(JsonNode theArray, String theTag) {
		List<String> out = new ArrayList<>();
		theArray.forEach(n -> out.add(n.at("/" + theTag + "/Value/0").asText()));
		return out;
	}

	protected static String bodyText(HttpResponse<byte[]> response) {
		return new String(response.body(), StandardCharsets.UTF_8);
	}

	/**
	 * {@code Location} (else {@code Content-Location}) header made relative to the FHIR base, without
	 * {@code /_history/N}: e.g. {@code Patient/1000}. HAPI sends only Content-Location when an update
	 * creates the resource.
	 */
	protected String location(HttpResponse<byte[]> response) {
		String location = response.headers()
				.firstValue("Location")
				.or(() -> response.headers().firstValue("Content-Location"))
				.orElseThrow(() -> new AssertionError(
						"no Location/Content-Location header; status " + response.statusCode() + ": " + bodyText(response)));
		String relative = location.startsWith(baseUrl() + "/") ? location.substring(baseUrl().length() + 1) : location;
		int history = relative.indexOf("/_history/");
		return history >= 0 ? relative.substring(0, history) : relative;
	}
}
