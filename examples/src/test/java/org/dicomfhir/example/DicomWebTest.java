package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The DICOMweb facade over real HTTP: STOW-RS, QIDO-RS, WADO-RS (see docs/dicomweb.md). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebTest extends AbstractServerTest {


	private String study;
	private String series;
	private final List<byte[]> instances = new ArrayList<>();
	private final List<String> sopUids = new ArrayList<>();

	@BeforeAll
	void storeOneSeriesOfThree() {
		study = DicomFixtures.newStudyUid();
		series = DicomFixtures.newSeriesUid();
		for (int i = 0; i < 3; i++) {
			instances.add(DicomFixtures.ctInstance(study, series));
		}
		HttpResponse<byte[]> response = stow("dw/studies", instances.toArray(byte[][]::new));
		assertThat(response.statusCode()).as(bodyText(response)).isEqualTo(200);
		JsonNode body = json(response);
		assertThat(body.at("/00081190/Value/0").asText()).isEqualTo(url("dicomweb/studies/" + study));
		JsonNode refs = body.at("/00081199/Value");
		assertThat(refs).hasSize(3);
		for (JsonNode ref : refs) {
			sopUids.add(ref.at("/00081155/Value/0").asText());
			assertThat(ref.at("/00081190/Value/0").asText()).startsWith(url("dicomweb/studies/" + study + "/series/" + series + "/instances/"));
		}
	}

	// ------------------------------------------------------------------ helpers

	private static String dw(String thePath) {
		return thePath.startsWith("dw/") ? "dicomweb/" + thePath.substring(3) : thePath;
	}

	private HttpResponse<byte[]> stow(String thePath, byte[]... theParts) {
		return send(stowRequest(dw(thePath), List.of(theParts)).build());
	}

	private HttpResponse<byte[]> dwGet(String thePath, String theAccept) {
		return get(dw(thePath), theAccept);
	}

	// ------------------------------------------------------------------ QIDO-RS

	@Test
	void qidoStudiesWithWildcardDateRangeAndUidList() {
		String other = DicomFixtures.newStudyUid();
		assertThat(stow("dw/studies", DicomFixtures.ctInstance(other, DicomFixtures.newSeriesUid())).statusCode()).isEqualTo(200);
		String uids = study + "," + other;

		HttpResponse<byte[]> r = dwGet("dw/studies?StudyInstanceUID=" + uids + "&PatientName=compressed*", "application/dicom+json");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/dicom+json");
		JsonNode studies = json(r);
		assertThat(values(studies, "0020000D")).containsExactlyInAnyOrder(study, other);
		JsonNode mine = studies.get(values(studies, "0020000D").indexOf(study));
		assertThat(mine.at("/00201208/Value/0").asInt()).isEqualTo(3);
		assertThat(mine.at("/00201206/Value/0").asInt()).isEqualTo(1);
		assertThat(mine.at("/00080061/Value/0").asText()).isEqualTo("CT");
		assertThat(mine.at("/00100010/Value/0/Alphabetic").asText()).isEqualTo("CompressedSamples^CT1");
		assertThat(mine.at("/00100020/Value/0").asText()).isEqualTo("1CT1");
		assertThat(mine.at("/00080020/Value/0").asText()).isEqualTo("20040119");
		assertThat(mine.at("/00081190/Value/0").asText()).isEqualTo(url("dicomweb/studies/" + study));

		// Backslash UID list, ? wildcard, case-insensitive PN
		assertThat(values(json(dwGet("dw/studies?StudyInstanceUID=" + study + "%5C" + other + "&PatientName=COMPRESSEDSAMPLES%5ECT?", null)), "0020000D"))
				.containsExactlyInAnyOrder(study, other);
		assertThat(json(dwGet("dw/studies?StudyInstanceUID=" + uids + "&PatientName=nobody*", null))).isEmpty();
		// DA ranges
		assertThat(values(json(dwGet("dw/studies?StudyInstanceUID=" + uids + "&StudyDate=20040101-20040131", null)), "0020000D"))
				.containsExactlyInAnyOrder(study, other);
		assertThat(json(dwGet("dw/studies?StudyInstanceUID=" + uids + "&StudyDate=20050101-", null))).isEmpty();
		assertThat(values(json(dwGet("dw/studies?StudyInstanceUID=" + uids + "&StudyDate=-20040119&ModalitiesInStudy=CT", null)), "0020000D"))
				.hasSize(2);
		// includefield
		JsonNode withDescription = json(dwGet("dw/studies?StudyInstanceUID=" + study + "&includefield=StudyDescription", null));
		assertThat(withDescription.get(0).has("00081030")).isTrue();
	}

	@Test
	void qidoSeriesAndInstancesWithLimitAndOffset() {
		JsonNode series = json(dwGet("dw/studies/" + study + "/series", null));
		assertThat(values(series, "0020000E")).containsExactly(this.series);
		assertThat(series.get(0).at("/00201209/Value/0").asInt()).isEqualTo(3);
		assertThat(series.get(0).at("/00080060/Value/0").asText()).isEqualTo("CT");

		JsonNode all = json(dwGet("dw/studies/" + study + "/series/" + this.series + "/instances", null));
		assertThat(values(all, "00080018")).containsExactlyInAnyOrderElementsOf(sopUids);
		assertThat(all.get(0).at("/00280010/Value/0").asInt()).isEqualTo(128);

		HttpResponse<byte[]> page = dwGet("dw/studies/" + study + "/series/" + this.series + "/instances?limit=1&offset=1", null);
		assertThat(values(json(page), "00080018")).containsExactly(values(all, "00080018").get(1));
		assertThat(page.headers().allValues("Warning")).anyMatch(w -> w.startsWith("299 ") && w.contains("1 additional results"));

		// Study-less searches
		assertThat(values(json(dwGet("dw/series?SeriesInstanceUID=" + this.series + "&Modality=CT", null)), "0020000D")).containsExactly(study);
		JsonNode inst = json(dwGet("dw/instances?SOPInstanceUID=" + sopUids.get(0), null));
		assertThat(values(inst, "00081190")).containsExactly(
				url("dicomweb/studies/" + study + "/series/" + this.series + "/instances/" + sopUids.get(0)));
		assertThat(json(dwGet("dw/studies/" + study + "/instances?SOPClassUID=1.2.840.10008.5.1.4.1.1.2", null))).hasSize(3);
	}

	@Test
	void qidoRejectsMalformedQueries() {
		assertThat(dwGet("dw/studies?StudyDate=2004", null).statusCode()).isEqualTo(400);
		assertThat(dwGet("dw/studies?NotAnAttribute=1", null).statusCode()).isEqualTo(400);
		assertThat(dwGet("dw/studies?limit=many", null).statusCode()).isEqualTo(400);
		assertThat(dwGet("dw/studies?StudyInstanceUID=1.2.abc", null).statusCode()).isEqualTo(400);
		// a key outside the kept set is matched (DicomWebAnyAttributeTest), not ignored with a Warning
		HttpResponse<byte[]> r = dwGet("dw/studies?StudyInstanceUID=" + study + "&PatientWeight=70", null);
		assertThat(r.statusCode()).isEqualTo(200);
		assertThat(r.headers().allValues("Warning")).noneMatch(w -> w.contains("PatientWeight"));
		assertThat(json(r)).isEmpty();
		assertThat(dwGet("dw/studies?RequestAttributesSequence=x", null).statusCode()).isEqualTo(400);
		assertThat(dwGet("dw/studies", "application/dicom+xml").statusCode()).isEqualTo(406);
	}

	// ------------------------------------------------------------------ WADO-RS

	@Test
	void wadoRetrievesByteIdenticalInstances() {
		HttpResponse<byte[]> r = dwGet("dw/studies/" + study, MULTIPART_DICOM + "; transfer-syntax=*");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("multipart/related");
		assertThat(Multipart.parts(r)).as(r.headers().map() + " " + r.body().length).hasSize(3);
		List<String> hashes = Multipart.parts(r).stream().map(DicomFixtures::sha256).toList();
		assertThat(hashes).containsExactlyInAnyOrderElementsOf(instances.stream().map(DicomFixtures::sha256).toList());

		// series, no Accept
		assertThat(Multipart.parts(dwGet("dw/studies/" + study + "/series/" + series, null))).hasSize(3);

		// one instance, single part
		int i = 0;
		String sop = sopUids.get(i);
		byte[] expected = instances.stream().filter(b -> new String(b, StandardCharsets.ISO_8859_1).contains(sop)).findFirst().orElseThrow();
		HttpResponse<byte[]> single = dwGet("dw/studies/" + study + "/series/" + series + "/instances/" + sop, "application/dicom");
		assertThat(single.statusCode()).isEqualTo(200);
		assertThat(DicomFixtures.sha256(single.body())).isEqualTo(DicomFixtures.sha256(expected));
		String etag = single.headers().firstValue("ETag").orElseThrow();
		assertThat(etag).isEqualTo("\"" + DicomFixtures.sha256(expected) + "\"");

		HttpResponse<byte[]> notModified = send(request(dw("dw/studies/" + study + "/series/" + series + "/instances/" + sop))
				.header("Accept", "application/dicom").header("If-None-Match", etag).GET().build());
		assertThat(notModified.statusCode()).isEqualTo(304);
		assertThat(notModified.body()).isEmpty();
	}

	@Test
	void wadoRefusesWhatItCannotServe() {
		// CT_small is stored as Explicit VR Little Endian; transcoding produces that syntax only
		HttpResponse<byte[]> r = dwGet("dw/studies/" + study, MULTIPART_DICOM + "; transfer-syntax=1.2.840.10008.1.2.4.50");
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("transfer-syntax");
		assertThat(dwGet("dw/studies/" + study, MULTIPART_DICOM + "; transfer-syntax=1.2.840.10008.1.2.1").statusCode()).isEqualTo(200);
		// rendered images: DicomWebRenderedTest
		assertThat(dwGet("dw/studies/" + study + "/series/" + series + "/instances/" + sopUids.get(0) + "/rendered", "image/gif").statusCode()).isEqualTo(406);
		// CT_small has one frame (frames and bulk data: DicomWebFramesTest)
		assertThat(dwGet("dw/studies/" + study + "/series/" + series + "/instances/" + sopUids.get(0) + "/frames/1", null).statusCode()).isEqualTo(200);
		assertThat(dwGet("dw/studies/" + study + "/series/" + series + "/instances/" + sopUids.get(0) + "/frames/2", null).statusCode()).isEqualTo(404);
		assertThat(dwGet("dw/studies/2.25.999999999", null).statusCode()).isEqualTo(404);
		assertThat(dwGet("dw/studies/" + study + "/series/2.25.1", null).statusCode()).isEqualTo(404);
		assertThat(dwGet("dw/studies/" + study, "application/zip").statusCode()).isEqualTo(406);
	}

	@Test
	void wadoMetadataHasBulkDataUris() {
		HttpResponse<byte[]> r = dwGet("dw/studies/" + study + "/series/" + series + "/metadata", "application/dicom+json");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		JsonNode md = json(r);
		assertThat(md).hasSize(3);
		for (JsonNode instance : md) {
			String sop = instance.at("/00080018/Value/0").asText();
			assertThat(instance.at("/7FE00010/BulkDataURI").asText()).isEqualTo(
					url("dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop + "/bulkdata/7FE00010"));
			assertThat(instance.has("00020010")).isFalse();
		}
		String etag = r.headers().firstValue("ETag").orElseThrow();
		HttpResponse<byte[]> again = send(request(dw("dw/studies/" + study + "/series/" + series + "/metadata"))
				.header("If-None-Match", etag).GET().build());
		assertThat(again.statusCode()).isEqualTo(304);
		assertThat(json(dwGet("dw/studies/" + study + "/metadata", null))).hasSize(3);
		assertThat(json(dwGet("dw/studies/" + study + "/series/" + series + "/instances/" + sopUids.get(1) + "/metadata", null))).hasSize(1);

		// The same series through another host name: the kept DICOM JSON is per base URL, so the
		// BulkDataURIs name the host the client used, and nothing else differs.
		String otherBase = baseUrl().replace("//localhost:", "//127.0.0.1:");
		HttpResponse<byte[]> viaIp = get(otherBase + "/dicomweb/studies/" + study + "/series/" + series + "/metadata", "application/dicom+json");
		assertThat(viaIp.statusCode()).isEqualTo(200);
		for (JsonNode instance : json(viaIp)) {
			assertThat(instance.at("/7FE00010/BulkDataURI").asText()).startsWith(otherBase + "/dicomweb/studies/" + study);
		}
		assertThat(new String(viaIp.body(), StandardCharsets.UTF_8).replace("//127.0.0.1:", "//localhost:"))
				.isEqualTo(new String(r.body(), StandardCharsets.UTF_8));
	}

	// ------------------------------------------------------------------ STOW-RS

	@Test
	void stowReportsPartialFailures() {
		String s = DicomFixtures.newStudyUid();
		byte[] good = DicomFixtures.ctInstance(s, DicomFixtures.newSeriesUid());
		byte[] otherStudy = DicomFixtures.ctInstance(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid());
		byte[] notDicom = "this is not DICOM".getBytes(StandardCharsets.US_ASCII);

		HttpResponse<byte[]> r = stow("dw/studies/" + s, good, otherStudy, notDicom);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(202);
		JsonNode body = json(r);
		assertThat(body.at("/00081199/Value")).hasSize(1);
		List<Integer> reasons = new ArrayList<>();
		body.at("/00081198/Value").forEach(f -> reasons.add(f.at("/00081197/Value/0").asInt()));
		assertThat(reasons).containsExactlyInAnyOrder(43265, 43264);

		// nothing stored -> 409
		assertThat(stow("dw/studies", notDicom).statusCode()).isEqualTo(409);

		// same SOP Instance UID, other bytes -> 45070
		byte[] changed = good.clone();
		changed[changed.length - 1] ^= 0x01; // last pixel byte
		HttpResponse<byte[]> dup = stow("dw/studies", changed);
		assertThat(dup.statusCode()).as(bodyText(dup)).isEqualTo(409);
		assertThat(json(dup).at("/00081198/Value/0/00081197/Value/0").asInt()).isEqualTo(45070);

		// the same bytes again: stored (idempotent)
		assertThat(stow("dw/studies", good).statusCode()).isEqualTo(200);
		// and QIDO sees the stored one
		assertThat(json(dwGet("dw/studies?StudyInstanceUID=" + s, null))).hasSize(1);
	}

	/** One request (one transaction, ids resolved together) with a new, an already stored and a deleted instance. */
	@Test
	void stowBatchStoresNewStoredAndDeletedInstancesTogether() {
		DicomFixtures.NewSeries ns = new DicomFixtures.NewSeries();
		String s = ns.study();
		String series = ns.series();
		byte[] kept = ns.instance();
		byte[] deleted = ns.instance();
		byte[] fresh = ns.instance();
		HttpResponse<byte[]> first = stow("dw/studies", kept, deleted);
		assertThat(first.statusCode()).as(bodyText(first)).isEqualTo(200);
		String deletedSop = json(first).at("/00081199/Value/1/00081155/Value/0").asText();
		assertThat(delete("dicomweb/studies/" + s + "/series/" + series + "/instances/" + deletedSop).statusCode()).isEqualTo(204);
		assertThat(getJson("Binary/" + DicomFixtures.sha256(deleted)).statusCode()).isEqualTo(410);

		HttpResponse<byte[]> again = stow("dw/studies", kept, deleted, fresh);
		assertThat(again.statusCode()).as(bodyText(again)).isEqualTo(200);
		assertThat(json(again).at("/00081199/Value")).hasSize(3);
		assertThat(json(again).has("00081198")).isFalse();
		for (byte[] part : List.of(kept, deleted, fresh)) {
			assertThat(getJson("Binary/" + DicomFixtures.sha256(part)).statusCode()).isEqualTo(200);
		}
		assertThat(json(dwGet("dw/studies/" + s + "/series/" + series + "/instances", null))).hasSize(3);
	}

	/** The parts' SOP Instance UIDs are checked in one query; a stored one with other bytes is still a conflict. */
	@Test
	void stowBatchRefusesOtherBytesUnderAStoredSopInstanceUid() {
		DicomFixtures.NewSeries ns = new DicomFixtures.NewSeries();
		String s = ns.study();
		String series = ns.series();
		byte[] stored = ns.instance();
		assertThat(stow("dw/studies", stored).statusCode()).isEqualTo(200);
		byte[] changed = stored.clone();
		changed[changed.length - 1] ^= 0x01; // last pixel byte
		byte[] fresh = ns.instance();

		HttpResponse<byte[]> r = stow("dw/studies", fresh, changed);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(202);
		assertThat(json(r).at("/00081199/Value")).hasSize(1);
		assertThat(json(r).at("/00081198/Value/0/00081197/Value/0").asInt()).isEqualTo(45070);
		assertThat(getJson("Binary/" + DicomFixtures.sha256(changed)).statusCode()).isEqualTo(404);
		assertThat(json(dwGet("dw/studies/" + s + "/series/" + series + "/instances", null))).hasSize(2);
	}

	@Test
	void stowRejectsMalformedRequests() {
		// no boundary
		HttpResponse<byte[]> r = send(request(dw("dw/studies")).header("Content-Type", MULTIPART_DICOM)
				.POST(HttpRequest.BodyPublishers.ofByteArray(new byte[10])).build());
		assertThat(r.statusCode()).isEqualTo(400);
		// boundary never found
		r = send(request(dw("dw/studies")).header("Content-Type", MULTIPART_DICOM + "; boundary=xyz")
				.POST(HttpRequest.BodyPublishers.ofByteArray("garbage".getBytes(StandardCharsets.US_ASCII))).build());
		assertThat(r.statusCode()).isEqualTo(400);
		// truncated: no close delimiter
		r = send(request(dw("dw/studies")).header("Content-Type", MULTIPART_DICOM + "; boundary=xyz")
				.POST(HttpRequest.BodyPublishers.ofByteArray("--xyz\r\nContent-Type: application/dicom\r\n\r\nabc".getBytes(StandardCharsets.US_ASCII))).build());
		assertThat(r.statusCode()).isEqualTo(400);
		// wrong media type
		r = send(request(dw("dw/studies")).header("Content-Type", "application/json")
				.POST(HttpRequest.BodyPublishers.ofString("{}")).build());
		assertThat(r.statusCode()).isEqualTo(415);
		// single part application/dicom works
		String s = DicomFixtures.newStudyUid();
		r = send(request(dw("dw/studies")).header("Content-Type", "application/dicom")
				.POST(HttpRequest.BodyPublishers.ofByteArray(DicomFixtures.ctInstance(s, DicomFixtures.newSeriesUid()))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
	}
}
