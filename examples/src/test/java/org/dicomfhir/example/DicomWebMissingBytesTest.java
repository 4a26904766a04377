package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.dicomfhir.hapi.dicomweb.MultipartReader;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Nothing stored can be silently wrong: an instance whose stored bytes are unreadable (its blob
 * file deleted from the filesystem binary store, or its Binary resource gone) does not take its
 * study down. WADO-RS retrieve and metadata serve the other instances with a {@code Warning: 299}
 * naming the missing one; the missing instance alone is a 404 with a clear message; DICOMweb
 * DELETE removes its entry from the ImagingStudy (the Binary delete hook cannot: it learns the SOP
 * Instance UID from the bytes). Real server, real files: the blob is deleted on disk.
 */
class DicomWebMissingBytesTest extends AbstractServerTest {

	private static final String DICOM_MULTIPART = "multipart/related; type=\"application/dicom\"";

	/** A study of three CT instances in one series: a's blob file deleted, b's Binary deleted too, c intact. */
	private record Broken(String study, String series, String a, String b, String c, byte[] cBytes) {}

	private Broken brokenStudy() throws java.sql.SQLException {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		String[] sops = new String[3];
		byte[][] files = new byte[3][];
		for (int i = 0; i < 3; i++) {
			sops[i] = DicomFixtures.newSopUid();
			files[i] = DicomFixtures.ctInstance(study, series, sops[i]);
		}
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(files)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		// the study write is deferred: this QIDO waits for it (read-your-writes)
		assertThat(json(get("dicomweb/studies/" + study + "/instances", "application/dicom+json"))).hasSize(3);
		deleteBlobFile(files[0]);
		deleteBlobFile(files[1]);
		// b's bytes are gone and its ledger row too (a store from before the ledger, or a row lost):
		// then nothing can name b's instance when its Binary is deleted
		String bSha = DicomFixtures.sha256(files[1]);
		try (java.sql.Connection c = bean(javax.sql.DataSource.class).getConnection();
				java.sql.PreparedStatement st = c.prepareStatement("DELETE FROM DFH_INSTANCE WHERE SOP_INSTANCE_UID = ?")) {
			st.setString(1, sops[1]);
			assertThat(st.executeUpdate()).isEqualTo(1);
		}
		HttpResponse<byte[]> d = delete("Binary/" + bSha);
		assertThat(d.statusCode()).as(bodyText(d)).isIn(200, 204);
		// the Binary delete hook cannot read b's bytes: its entry stays listed
		assertThat(json(get("dicomweb/studies/" + study + "/instances", "application/dicom+json"))).hasSize(3);
		return new Broken(study, series, sops[0], sops[1], sops[2], files[2]);
	}

	private String studyUrl(Broken theStudy) {
		return "dicomweb/studies/" + theStudy.study();
	}

	private String instanceUrl(Broken theStudy, String theSop) {
		return studyUrl(theStudy) + "/series/" + theStudy.series() + "/instances/" + theSop;
	}

	private static String warnings(HttpResponse<byte[]> theResponse) {
		return String.join("\n", theResponse.headers().allValues("Warning"));
	}

	@Test
	void retrieveServesTheInstancesThatExistWithAWarning() throws Exception {
		Broken s = brokenStudy();
		for (String url : List.of(studyUrl(s), studyUrl(s) + "/series/" + s.series())) {
			HttpResponse<byte[]> r = get(url, DICOM_MULTIPART);
			assertThat(r.statusCode()).as(url + ": " + bodyText(r)).isEqualTo(200);
			List<byte[]> parts = Multipart.parts(r);
			assertThat(parts).as(url).hasSize(1);
			assertThat(parts.get(0)).isEqualTo(s.cBytes());
			assertThat(warnings(r)).as(url).startsWith("299 ").contains(s.a()).contains(s.b()).doesNotContain(s.c());
		}
		for (String missing : List.of(s.a(), s.b())) {
			HttpResponse<byte[]> r = get(instanceUrl(s, missing), DICOM_MULTIPART);
			assertThat(r.statusCode()).as(bodyText(r)).isIn(404, 410);
			assertThat(bodyText(r)).contains(missing).contains("missing");
		}
		HttpResponse<byte[]> ok = get(instanceUrl(s, s.c()), "application/dicom");
		assertThat(ok.statusCode()).isEqualTo(200);
		assertThat(ok.body()).isEqualTo(s.cBytes());
	}

	@Test
	void metadataServesTheInstancesThatExistWithAWarning() throws Exception {
		Broken s = brokenStudy();
		for (String url : List.of(studyUrl(s), studyUrl(s) + "/series/" + s.series())) {
			HttpResponse<byte[]> r = get(url + "/metadata", "application/dicom+json");
			assertThat(r.statusCode()).as(url + ": " + bodyText(r)).isEqualTo(200);
			JsonNode json = json(r);
			assertThat(values(json, "00080018")).containsExactly(s.c());
			assertThat(warnings(r)).as(url).startsWith("299 ").contains(s.a()).contains(s.b());
		}
		for (String missing : List.of(s.a(), s.b())) {
			HttpResponse<byte[]> r = get(instanceUrl(s, missing) + "/metadata", "application/dicom+json");
			assertThat(r.statusCode()).as(bodyText(r)).isIn(404, 410);
			assertThat(bodyText(r)).contains(missing).contains("missing");
		}
	}

	@Test
	void framesAndBulkDataOfAnInstanceWhoseBytesAreGoneAreA404() throws Exception {
		Broken s = brokenStudy();
		for (String missing : List.of(s.a(), s.b())) {
			for (String tail : List.of("/frames/1", "/bulkdata/7FE00010")) {
				HttpResponse<byte[]> r = get(instanceUrl(s, missing) + tail, "multipart/related; type=\"application/octet-stream\"");
				assertThat(r.statusCode()).as(tail + ": " + bodyText(r)).isIn(404, 410);
				assertThat(bodyText(r)).contains(missing).contains("missing");
			}
		}
		assertThat(get(instanceUrl(s, s.c()) + "/frames/1", "multipart/related; type=\"application/octet-stream\"").statusCode())
				.isEqualTo(200);
	}

	@Test
	void deleteRemovesTheEntriesWhoseBytesAreGone() throws Exception {
		Broken s = brokenStudy();
		// one instance whose blob file is gone
		HttpResponse<byte[]> d = send(request(instanceUrl(s, s.a())).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(values(json(get(studyUrl(s) + "/instances", "application/dicom+json")), "00080018"))
				.containsExactlyInAnyOrder(s.b(), s.c());
		// the whole study: b (Binary gone) and c (intact)
		d = send(request(studyUrl(s)).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(json(get("dicomweb/studies?StudyInstanceUID=" + s.study(), "application/dicom+json"))).isEmpty();
		assertThat(getJson("ImagingStudy/" + s.study()).statusCode()).isIn(404, 410);
		assertThat(send(request(studyUrl(s)).DELETE().build()).statusCode()).isEqualTo(404);
	}

	@Test
	void deleteOfASeriesWhoseBytesAreAllGoneEmptiesTheStudy() throws Exception {
		Broken s = brokenStudy();
		deleteBlobFile(s.cBytes());
		HttpResponse<byte[]> r = get(studyUrl(s), DICOM_MULTIPART);
		assertThat(r.statusCode()).as("no instance can be served").isIn(404, 410);
		assertThat(bodyText(r)).contains("missing");
		HttpResponse<byte[]> d = send(request(studyUrl(s) + "/series/" + s.series()).DELETE().build());
		assertThat(d.statusCode()).as(bodyText(d)).isEqualTo(204);
		assertThat(getJson("ImagingStudy/" + s.study()).statusCode()).isIn(404, 410);
	}

	/** Deletes the one file of the filesystem binary store that holds exactly these bytes. */
	private static void deleteBlobFile(byte[] theBytes) {
		try {
			Files.delete(blobFileHolding(theBytes));
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}
}
