package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * WADO-URI (PS3.18 §9) over real HTTP, and the facade's answers to malformed requests: always a
 * 4xx with a message saying what is wrong, never a 500.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebUriAndErrorsTest extends AbstractServerTest {


	private String study;
	private String series;
	private String sop;
	private byte[] stored;

	@BeforeAll
	void storeOneInstance() {
		study = DicomFixtures.newStudyUid();
		series = DicomFixtures.newSeriesUid();
		stored = DicomFixtures.ctInstance(study, series);
		HttpResponse<byte[]> r = send(request("dicomweb/studies").header("Content-Type", "application/dicom")
				.POST(HttpRequest.BodyPublishers.ofByteArray(stored)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		sop = json(r).at("/00081199/Value/0/00081155/Value/0").asText();
	}

	private String wadoUri(String theQuery) {
		return "dicomweb?" + theQuery;
	}

	private String ids() {
		return "studyUID=" + study + "&seriesUID=" + series + "&objectUID=" + sop;
	}

	// ------------------------------------------------------------------ WADO-URI

	@Test
	void wadoUriReturnsTheStoredInstance() {
		HttpResponse<byte[]> r = get(wadoUri("requestType=WADO&" + ids() + "&contentType=application%2Fdicom"), null);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/dicom");
		assertThat(DicomFixtures.sha256(r.body())).isEqualTo(DicomFixtures.sha256(stored));

		// */* and a list holding application/dicom are fine; so is the stored transfer syntax
		assertThat(get(wadoUri("requestType=WADO&" + ids() + "&contentType=*/*"), null).statusCode()).isEqualTo(200);
		HttpResponse<byte[]> listed = get(wadoUri("requestType=WADO&" + ids() + "&contentType=application/dicom,image/jpeg"), null);
		assertThat(listed.statusCode()).isEqualTo(200);
		assertThat(listed.headers().firstValue("Content-Type").orElse("")).startsWith("application/dicom");
		assertThat(get(wadoUri("requestType=WADO&" + ids() + "&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.1"), null)
				.statusCode()).isEqualTo(200);
		// listed in the capabilities
		HttpResponse<byte[]> wadl = send(request("dicomweb").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build());
		assertThat(wadl.statusCode()).isEqualTo(200);
		assertThat(bodyText(wadl)).contains("id=\"WADO-URI\"").contains("name=\"objectUID\"");
		// slash-terminated service root works too
		assertThat(get("dicomweb/?requestType=WADO&" + ids() + "&contentType=application/dicom", null).statusCode()).isEqualTo(200);
	}

	@Test
	void wadoUriRefusesWhatItCannotServe() {
		// no contentType: PS3.18 defaults to image/jpeg, rendered (DicomWebRenderedTest); media types we do not produce: 406
		HttpResponse<byte[]> r = get(wadoUri("requestType=WADO&" + ids()), null);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo("image/jpeg");
		r = get(wadoUri("requestType=WADO&" + ids() + "&contentType=image/gif"), null);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("application/dicom");
		assertThat(get(wadoUri("requestType=WADO&" + ids() + "&contentType=image/jpeg&transferSyntax=1.2.840.10008.1.2.1"), null)
				.statusCode()).isEqualTo(400);
		// transcoding
		r = get(wadoUri("requestType=WADO&" + ids() + "&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50"), null);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(406);
		// missing / malformed parameters
		r = get(wadoUri("requestType=WADO&studyUID=" + study + "&contentType=application/dicom"), null);
		assertThat(r.statusCode()).isEqualTo(400);
		assertThat(bodyText(r)).contains("seriesUID").contains("objectUID");
		assertThat(get(wadoUri("requestType=WADOX&" + ids() + "&contentType=application/dicom"), null).statusCode()).isEqualTo(400);
		assertThat(get(wadoUri("requestType=WADO&studyUID=1.2.x&seriesUID=1.2&objectUID=1.3&contentType=application/dicom"), null)
				.statusCode()).isEqualTo(400);
		assertThat(get(wadoUri("requestType=WADO&" + ids() + "&contentType=application/dicom&frameNumber=1"), null).statusCode()).isEqualTo(400);
		assertThat(get(wadoUri("requestType=WADO&" + ids() + "&contentType=application/dicom&anonymize=yes"), null).statusCode()).isEqualTo(501);
		// not stored
		r = get(wadoUri("requestType=WADO&studyUID=" + study + "&seriesUID=" + series + "&objectUID=2.25.42&contentType=application/dicom"), null);
		assertThat(r.statusCode()).isEqualTo(404);
	}

	// ------------------------------------------------------------------ malformed requests

	@Test
	void malformedRequestsGetA4xxWithAMessage() {
		List<String> paths = List.of(
				"dicomweb/studies?StudyDate=2004",
				"dicomweb/studies?StudyDate=20040101-20040102-20040103",
				"dicomweb/studies?StudyTime=25x",
				"dicomweb/studies?NumberOfStudyRelatedInstances=many",
				"dicomweb/studies?SeriesNumber=x",
				"dicomweb/studies?limit=-1",
				"dicomweb/studies?offset=abc",
				"dicomweb/studies?limit=99999999999999999999999",
				"dicomweb/studies?fuzzymatching=maybe",
				"dicomweb/studies?includefield=NoSuchKeyword",
				"dicomweb/studies?NoSuchKeyword=1",
				"dicomweb/studies?0010001=short-tag",
				"dicomweb/studies?StudyInstanceUID=1..2",
				"dicomweb/studies?StudyDate=%E9",
				"dicomweb/studies/not-a-uid",
				"dicomweb/studies/1.2.3.4/series/x.y",
				"dicomweb/studies/" + "1.2".repeat(30) + "/metadata",
				"dicomweb/studies/1.2/series/1.3/instances/abc/frames/1",
				"dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/0",
				"dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames/1,,2",
				"dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/frames",
				"dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/bulkdata/XYZ",
				"dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/bulkdata/7FE00010/x/y",
				"dicomweb/studies/" + study + "/nonsense",
				"dicomweb/nonsense");
		for (String path : paths) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isBetween(400, 499);
			assertThat(bodyText(r)).as(path).isNotBlank();
		}
		// bad Accept headers
		for (String accept : List.of("text/html", "!!!", "multipart/related; type=\"image/png\"", "application/dicom; transfer-syntax=\"")) {
			HttpResponse<byte[]> r = get("dicomweb/studies/" + study, accept);
			assertThat(r.statusCode()).as(accept + ": " + bodyText(r)).isBetween(400, 499);
		}
		HttpResponse<byte[]> r = get("dicomweb/studies?PatientName=x", "text/html");
		assertThat(r.statusCode()).isEqualTo(406);
		// malformed %-escapes, which java.net.URI refuses to send: written on a socket
		for (String target : List.of("studies?PatientName=%ZZ", "studies?%G1=x", "studies/" + study + "/series?Modality=CT%")) {
			String answer = rawGet("/fhir/dicomweb/" + target);
			assertThat(answer).as(target).matches("(?s)HTTP/1\\.1 400 .*Malformed query string.*");
		}
	}

	/** The whole answer (status line, headers, body) to a GET sent as written, on a plain socket. */
	private String rawGet(String theTarget) {
		try (java.net.Socket socket = new java.net.Socket("127.0.0.1", URI.create(baseUrl()).getPort())) {
			socket.setSoTimeout(60_000);
			socket.getOutputStream().write(("GET " + theTarget + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
					.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
			return new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
		} catch (java.io.IOException e) {
			throw new java.io.UncheckedIOException(e);
		}
	}

	@Test
	void malformedStowRequestsGetA4xx() {
		record Case(String contentType, String body) {}
		List<Case> cases = List.of(
				new Case("multipart/related; type=\"application/dicom\"; boundary=", "--\r\n\r\n"),
				new Case("multipart/related; type=\"application/dicom\"; boundary=\"unterminated", "x"),
				new Case("multipart/related; type=\"application/dicom\"; boundary=b", "--b\r\nContent-Type: application/dicom\r\n"),
				new Case("multipart/related; type=\"application/dicom\"; boundary=b", "--b\r\n\r\n--b--\r\n"),
				new Case("multipart/related; type=\"application/dicom\"; boundary=b", "--b--\r\n"),
				new Case("multipart/related; type=\"application/dicom+json\"; boundary=b", "--b\r\n\r\n{}\r\n--b--\r\n"),
				new Case("multipart/related; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"),
				new Case("application/dicom", ""),
				new Case("application/dicom", "DICM"),
				new Case("text/plain", "hello"),
				new Case("", "hello"));
		for (Case c : cases) {
			HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url("dicomweb/studies"))).timeout(Duration.ofMinutes(1))
					.POST(HttpRequest.BodyPublishers.ofString(c.body()));
			if (!c.contentType().isEmpty()) {
				b.header("Content-Type", c.contentType());
			}
			HttpResponse<byte[]> r = send(b.build());
			assertThat(r.statusCode()).as(c + ": " + bodyText(r)).isBetween(400, 499);
		}
		// methods the facade does not have
		assertThat(send(request("dicomweb/studies").PUT(HttpRequest.BodyPublishers.ofString("x")).build()).statusCode()).isEqualTo(405);
		assertThat(send(request("dicomweb/studies/" + study + "/series").POST(HttpRequest.BodyPublishers.ofString("x")).build()).statusCode())
				.isEqualTo(405);
		assertThat(send(request("dicomweb/studies").DELETE().build()).statusCode()).isEqualTo(405);
	}
}
