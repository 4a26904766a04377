package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * WADO-RS frames and bulk data, DELETE, OPTIONS capabilities and CORS over real HTTP
 * (see docs/dicomweb.md). The expected bytes are cut from the uploaded files here, independently
 * of the server's Rust core.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebFramesTest extends AbstractServerTest {

	private static final String OCTET_ANY = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";

	private String study;
	private String series;
	private String ctSop;
	private byte[] ct;
	private String nativeSop;
	private byte[] emri;
	private String j2kSop;
	private byte[] emriJ2k;

	@BeforeAll
	void store() {
		study = DicomFixtures.newUid(DicomFixtures.EMRI_STUDY.length());
		series = DicomFixtures.newUid(DicomFixtures.EMRI_SERIES.length());
		nativeSop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		j2kSop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		emri = DicomFixtures.replace(DicomFixtures.read("pydicom-data/emri_small.dcm"),
				Map.of(DicomFixtures.EMRI_STUDY, study, DicomFixtures.EMRI_SERIES, series, DicomFixtures.EMRI_SOP, nativeSop));
		emriJ2k = DicomFixtures.replace(DicomFixtures.read("pydicom-data/emri_small_jpeg_2k_lossless.dcm"),
				Map.of(DicomFixtures.EMRI_STUDY, study, DicomFixtures.EMRI_SERIES, series, DicomFixtures.EMRI_SOP, j2kSop));
		String ctStudy = DicomFixtures.newStudyUid();
		ct = DicomFixtures.ctInstance(ctStudy, DicomFixtures.newSeriesUid());
		HttpResponse<byte[]> r = stow("dicomweb/studies", emri, emriJ2k);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		r = stow("dicomweb/studies", ct);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		ctSop = json(r).at("/00081199/Value/0/00081155/Value/0").asText();
	}

	// ------------------------------------------------------------------ bulk data

	@Test
	void everyBulkDataUriOfTheMetadataResolves() {
		for (String studyUid : List.of(study, ctStudy())) {
			HttpResponse<byte[]> md = get("dicomweb/studies/" + studyUid + "/metadata", "application/dicom+json");
			assertThat(md.statusCode()).as(bodyText(md)).isEqualTo(200);
			List<String> uris = new ArrayList<>();
			collectBulkDataUris(json(md), uris);
			assertThat(uris).isNotEmpty();
			for (String uri : uris) {
				HttpResponse<byte[]> r = get(uri, OCTET_ANY);
				assertThat(r.statusCode()).as(uri + ": " + bodyText(r)).isEqualTo(200);
				assertThat(r.headers().firstValue("Content-Type").orElseThrow()).startsWith("multipart/related; type=\"application/octet-stream\"");
				assertThat(Multipart.partsByContentLength(r)).isNotEmpty().allSatisfy(p -> assertThat(p).isNotEmpty());
			}
		}
	}

	@Test
	void pixelDataOfCtSmallIsTheStoredValue() {
		String instanceUrl = "dicomweb/studies/" + ctStudy() + "/series/" + ctSeries() + "/instances/" + ctSop;
		// (7FE0,0010) OW, length 32768 (128 x 128 x 16 bits); CT_small has elements after it
		int at = -1;
		for (int i = ct.length - 12; i >= 0 && at < 0; i--) {
			if ((ct[i] & 0xFF) == 0xE0 && ct[i + 1] == 0x7F && ct[i + 2] == 0x10 && ct[i + 3] == 0 && ct[i + 4] == 'O' && ct[i + 5] == 'W') {
				at = i;
			}
		}
		assertThat(ByteBuffer.wrap(ct, at + 8, 4).order(ByteOrder.LITTLE_ENDIAN).getInt()).isEqualTo(32768);
		byte[] expected = Arrays.copyOfRange(ct, at + 12, at + 12 + 32768);
		HttpResponse<byte[]> r = get(instanceUrl + "/bulkdata/7FE00010", OCTET_ANY);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		List<byte[]> parts = Multipart.partsByContentLength(r);
		assertThat(parts).hasSize(1);
		assertThat(parts.get(0)).isEqualTo(expected);
		// single part when asked
		HttpResponse<byte[]> single = get(instanceUrl + "/bulkdata/7FE00010", "application/octet-stream");
		assertThat(single.statusCode()).isEqualTo(200);
		assertThat(single.headers().firstValue("Content-Type").orElseThrow()).startsWith("application/octet-stream");
		assertThat(single.body()).isEqualTo(expected);
		// /pixeldata is the same value
		assertThat(Multipart.partsByContentLength(get(instanceUrl + "/pixeldata", OCTET_ANY)).get(0)).isEqualTo(expected);
		// missing element, bad path
		assertThat(get(instanceUrl + "/bulkdata/7FE10010", OCTET_ANY).statusCode()).isEqualTo(404);
		assertThat(get(instanceUrl + "/bulkdata/nonsense", OCTET_ANY).statusCode()).isEqualTo(400);
		assertThat(get(instanceUrl + "/bulkdata/7FE00010", "image/png").statusCode()).isEqualTo(406);
	}

	// ------------------------------------------------------------------ frames

	@Test
	void nativeMultiFrameFramesInRequestOrder() {
		int frameSize = 64 * 64 * 2;
		int pixelStart = emri.length - 10 * frameSize;
		HttpResponse<byte[]> r = get(instanceUrl(nativeSop) + "/frames/5,1,3", OCTET_ANY);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		List<byte[]> parts = Multipart.partsByContentLength(r);
		assertThat(parts).hasSize(3);
		int[] order = {5, 1, 3};
		for (int i = 0; i < 3; i++) {
			int from = pixelStart + (order[i] - 1) * frameSize;
			assertThat(parts.get(i)).as("frame " + order[i]).isEqualTo(Arrays.copyOfRange(emri, from, from + frameSize));
		}
		assertThat(r.body().length).isGreaterThan(3 * frameSize);
		String text = new String(r.body(), StandardCharsets.ISO_8859_1);
		assertThat(text).contains("Content-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1");
		assertThat(text).contains("Content-Location: " + url(instanceUrl(nativeSop) + "/frames/5"));
	}

	@Test
	void encapsulatedMultiFrameFramesAreTheFragments() {
		List<byte[]> fragments = fragments(emriJ2k);
		assertThat(fragments).hasSize(10);
		HttpResponse<byte[]> r = get(instanceUrl(j2kSop) + "/frames/1,3,5,10", OCTET_ANY);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		List<byte[]> parts = Multipart.partsByContentLength(r);
		assertThat(parts).hasSize(4);
		int[] order = {1, 3, 5, 10};
		for (int i = 0; i < order.length; i++) {
			assertThat(parts.get(i)).as("frame " + order[i]).isEqualTo(fragments.get(order[i] - 1));
		}
		assertThat(new String(r.body(), StandardCharsets.ISO_8859_1))
				.contains("transfer-syntax=1.2.840.10008.1.2.4.90");
		// the compressed media type of the stored syntax, single part for one frame
		HttpResponse<byte[]> jp2 = get(instanceUrl(j2kSop) + "/frames/2", "image/jp2");
		assertThat(jp2.statusCode()).as(bodyText(jp2)).isEqualTo(200);
		assertThat(jp2.body()).isEqualTo(fragments.get(1));
		// the bulk data of encapsulated pixel data: one part per frame
		assertThat(Multipart.partsByContentLength(get(instanceUrl(j2kSop) + "/bulkdata/7FE00010", OCTET_ANY))).hasSize(10);
		// frames are decoded to Explicit VR Little Endian only (DicomWebTranscodeTest), never re-encoded
		assertThat(get(instanceUrl(j2kSop) + "/frames/1", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.91")
				.statusCode()).isEqualTo(406);
	}

	@Test
	void missingFramesAre404AndMalformedListsAre400() {
		assertThat(get(instanceUrl(nativeSop) + "/frames/11", OCTET_ANY).statusCode()).isEqualTo(404);
		assertThat(get(instanceUrl(j2kSop) + "/frames/1,11", OCTET_ANY).statusCode()).isEqualTo(404);
		for (String bad : List.of("0", "a", "1,,2", "-1", "1.5")) {
			HttpResponse<byte[]> r = get(instanceUrl(nativeSop) + "/frames/" + bad, OCTET_ANY);
			assertThat(r.statusCode()).as(bad + ": " + bodyText(r)).isEqualTo(400);
		}
		assertThat(get("dicomweb/studies/" + study + "/series/" + series + "/instances/1.2.3/frames/1", OCTET_ANY).statusCode())
				.isEqualTo(404);
	}

	// ------------------------------------------------------------------ DELETE, OPTIONS, CORS

	@Test
	void deleteInstanceSeriesAndStudy() {
		String s = DicomFixtures.newStudyUid();
		String se1 = DicomFixtures.newSeriesUid();
		String se2 = DicomFixtures.newSeriesUid();
		HttpResponse<byte[]> r = stow("dicomweb/studies", DicomFixtures.ctInstance(s, se1), DicomFixtures.ctInstance(s, se1),
				DicomFixtures.ctInstance(s, se2));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		String firstSop = json(r).at("/00081199/Value/0/00081155/Value/0").asText();
		HttpResponse<byte[]> d = send(request("dicomweb/studies/" + s + "/series/" + se1 + "/instances/" + firstSop).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(json(get("dicomweb/studies/" + s + "/instances", "application/dicom+json"))).hasSize(2);
		d = send(request("dicomweb/studies/" + s + "/series/" + se2).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(json(get("dicomweb/studies/" + s + "/series", "application/dicom+json"))).hasSize(1);
		d = send(request("dicomweb/studies/" + s).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(json(get("dicomweb/studies?StudyInstanceUID=" + s, "application/dicom+json"))).isEmpty();
		assertThat(send(request("dicomweb/studies/" + s).DELETE().build()).statusCode()).isEqualTo(404);
		assertThat(getJson("ImagingStudy/" + s).statusCode()).isIn(404, 410);
	}

	@Test
	void optionsDescribesTheServiceAndCorsFollowsTheConfiguredOrigins() {
		HttpResponse<byte[]> caps = send(request("dicomweb").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build());
		assertThat(caps.statusCode()).as(bodyText(caps)).isEqualTo(200);
		assertThat(caps.headers().firstValue("Content-Type").orElseThrow()).startsWith("application/vnd.sun.wadl+xml");
		assertThat(bodyText(caps)).contains("<resource path=\"studies\">", "frames/{FrameList}", "bulkdata/{TagPath}", "name=\"DELETE\"");

		HttpResponse<byte[]> preflight = send(request("dicomweb/studies").method("OPTIONS", HttpRequest.BodyPublishers.noBody())
				.header("Origin", "https://viewer.test").header("Access-Control-Request-Method", "GET")
				.header("Access-Control-Request-Headers", "accept, authorization").build());
		// answered by HAPI's CorsInterceptor (hapi.fhir.cors), which runs before the facade: 200
		assertThat(preflight.statusCode()).isIn(200, 204);
		assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).contains("https://viewer.test");
		assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers").orElseThrow().toLowerCase())
				.contains("accept", "authorization");
		assertThat(preflight.headers().firstValue("Access-Control-Allow-Methods").orElseThrow()).contains("GET", "POST", "DELETE");

		HttpResponse<byte[]> qido = send(request("dicomweb/studies?StudyInstanceUID=" + study).header("Origin", "https://viewer.test").GET().build());
		assertThat(qido.headers().firstValue("Access-Control-Allow-Origin")).contains("https://viewer.test");
		assertThat(qido.headers().firstValue("Access-Control-Expose-Headers").orElseThrow()).contains("Warning", "ETag", "Content-Location");
		// errors keep the CORS headers
		HttpResponse<byte[]> bad = send(request("dicomweb/studies?limit=x").header("Origin", "https://viewer.test").GET().build());
		assertThat(bad.statusCode()).isEqualTo(400);
		assertThat(bad.headers().firstValue("Access-Control-Allow-Origin")).contains("https://viewer.test");

		HttpResponse<byte[]> other = send(request("dicomweb/studies").method("OPTIONS", HttpRequest.BodyPublishers.noBody())
				.header("Origin", "https://evil.test").header("Access-Control-Request-Method", "GET").build());
		assertThat(other.statusCode()).isEqualTo(403);
		assertThat(other.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
	}

	// ------------------------------------------------------------------ helpers

	private String ctStudy() {
		return uidAfter(ct, "0020000D");
	}

	private String ctSeries() {
		return uidAfter(ct, "0020000E");
	}

	/** A UI value of an explicit VR LE element (tag as gggg eeee hex) in the data set. */
	private static String uidAfter(byte[] theData, String theTag) {
		int g = Integer.parseInt(theTag.substring(0, 4), 16);
		int e = Integer.parseInt(theTag.substring(4), 16);
		for (int i = 132; i + 8 < theData.length; i++) {
			if ((theData[i] & 0xFF) == (g & 0xFF) && (theData[i + 1] & 0xFF) == g >> 8 && (theData[i + 2] & 0xFF) == (e & 0xFF)
					&& (theData[i + 3] & 0xFF) == e >> 8 && theData[i + 4] == 'U' && theData[i + 5] == 'I') {
				int len = (theData[i + 6] & 0xFF) | (theData[i + 7] & 0xFF) << 8;
				return new String(theData, i + 8, len, StandardCharsets.US_ASCII).replace("\0", "").trim();
			}
		}
		throw new IllegalStateException("no " + theTag);
	}

	private String instanceUrl(String theSop) {
		return "dicomweb/studies/" + study + "/series/" + series + "/instances/" + theSop;
	}

	/** The fragment values of the top-level encapsulated Pixel Data (after the offset table). */
	private static List<byte[]> fragments(byte[] theFile) {
		int at = Part10.encapsulatedPixelDataItems(theFile);
		ByteBuffer b = ByteBuffer.wrap(theFile).order(ByteOrder.LITTLE_ENDIAN);
		List<byte[]> out = new ArrayList<>();
		int pos = at;
		boolean first = true;
		while (b.getShort(pos) == (short) 0xFFFE && b.getShort(pos + 2) == (short) 0xE000) {
			int len = b.getInt(pos + 4);
			if (!first) {
				out.add(Arrays.copyOfRange(theFile, pos + 8, pos + 8 + len));
			}
			first = false;
			pos += 8 + len;
		}
		return out;
	}

	private static void collectBulkDataUris(JsonNode theNode, List<String> theOut) {
		if (theNode.isObject()) {
			if (theNode.has("BulkDataURI")) {
				theOut.add(theNode.get("BulkDataURI").asText());
			}
			theNode.forEach(n -> collectBulkDataUris(n, theOut));
		} else if (theNode.isArray()) {
			theNode.forEach(n -> collectBulkDataUris(n, theOut));
		}
	}

	private HttpResponse<byte[]> stow(String thePath, byte[]... theParts) {
		return send(stowRequest(thePath, List.of(theParts)).build());
	}
}
