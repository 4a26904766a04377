package org.dicomfhir.example;

import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import org.dicomfhir.bridge.CoreConstants;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rendered images and thumbnails kept in memory by the instance's bytes (SHA-256) must never answer
 * a request the caller could not have had rendered: what a caller gets from a warm cache is exactly
 * what it got before anyone rendered the image (same status, same body), whatever study it asks
 * through; an instance whose study, listing or bytes are gone is never served from it. Uses no
 * class of the cache itself, so it runs against a server without one (which it must pass too).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebRenderedCacheAccessTest extends AbstractServerTest {

	private final String patientIdA = "RA" + (10 + (int) (Math.random() * 89));
	private final String patientIdB = "RB" + (10 + (int) (Math.random() * 89));
	private IdType patientA;
	private AuthorizationInterceptor authorization;

	/** An instance stored as the CT of the given patient. */
	private record Stored(String study, String series, String sop, byte[] bytes) {
		String instance() {
			return "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop;
		}
	}

	private Stored store(String thePatientId) {
		Stored s = new Stored(DicomFixtures.newStudyUid(), DicomFixtures.newSeriesUid(), DicomFixtures.newSopUid(), null);
		byte[] bytes = DicomFixtures.replace(DicomFixtures.ctInstance(s.study(), s.series(), s.sop()), Map.of("1CT1", thePatientId));
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(bytes)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(json(get("dicomweb/studies/" + s.study() + "/instances", "application/dicom+json"))).hasSize(1);
		return new Stored(s.study(), s.series(), s.sop(), bytes);
	}

	@BeforeAll
	void restrictTokenA() {
		Stored first = store(patientIdA);
		patientA = patientOfStudy(first.study());
		authorization = PatientCompartmentRules.readerOf(patientA);
		bean(RestfulServer.class).registerInterceptor(authorization);
	}

	@AfterAll
	void unrestrict() {
		bean(RestfulServer.class).unregisterInterceptor(authorization);
	}

	/** Every rendering resource of the instance: thumbnails at each level, rendered, frame, WADO-URI. */
	private static List<String> renderings(Stored s) {
		return List.of(
				"dicomweb/studies/" + s.study() + "/thumbnail",
				"dicomweb/studies/" + s.study() + "/series/" + s.series() + "/thumbnail",
				s.instance() + "/thumbnail",
				s.instance() + "/frames/1/thumbnail",
				s.instance() + "/rendered",
				s.instance() + "/rendered?window=40,400&viewport=64,64&quality=70",
				s.instance() + "/frames/1/rendered",
				"dicomweb/studies/" + s.study() + "/rendered",
				"dicomweb/?requestType=WADO&studyUID=" + s.study() + "&seriesUID=" + s.series() + "&objectUID=" + s.sop());
	}

	private HttpResponse<byte[]> asA(String thePath) {
		return send(request(thePath).header("Authorization", "Bearer A").GET().build());
	}

	/** Status and body of each path for token A. */
	private List<String> answersOfA(List<String> thePaths) {
		List<String> out = new ArrayList<>();
		for (String path : thePaths) {
			HttpResponse<byte[]> r = asA(path);
			out.add(path + " -> " + r.statusCode() + " " + r.headers().firstValue("Content-Type").orElse("") + " " + bodyText(r));
		}
		return out;
	}

	/** Renders every path as a caller allowed everything (so the images are cached, where there is a cache). */
	private void warm(List<String> thePaths) {
		for (int i = 0; i < 2; i++) {
			for (String path : thePaths) {
				HttpResponse<byte[]> r = get(path, null);
				assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(200);
			}
		}
	}

	@Test
	void aCallerWhoMayNotReadTheStudyGetsTheSameAnswerWithAWarmCache() {
		Stored b = store(patientIdB);
		List<String> paths = renderings(b);
		List<String> cold = answersOfA(paths);
		assertThat(cold).allSatisfy(a -> assertThat(a).contains(" -> 403 "));
		warm(paths);
		assertThat(answersOfA(paths)).isEqualTo(cold);
	}

	/**
	 * A study the caller may read that lists an instance whose bytes belong to another patient's
	 * study (anyone allowed to write ImagingStudy can make one): the Binary's own check refuses
	 * the caller, and an image of those bytes rendered for someone else must not get through.
	 */
	@Test
	void aStudyListingAnotherPatientsBytesDoesNotServeTheirCachedImage() {
		Stored a = store(patientIdA);
		Stored b = store(patientIdB);
		ImagingStudy study = parse(ImagingStudy.class, getJson("ImagingStudy/" + a.study()));
		study.getSeriesFirstRep().getInstanceFirstRep().getExtensionByUrl(CoreConstants.EXT_INSTANCE_BINARY)
				.setValue(new Reference("Binary/" + DicomFixtures.sha256(b.bytes())));
		HttpResponse<byte[]> put = put("ImagingStudy/" + a.study(), FHIR_JSON, encode(study).getBytes(StandardCharsets.UTF_8));
		assertThat(put.statusCode()).as(bodyText(put)).isEqualTo(200);

		List<String> paths = renderings(a);
		List<String> cold = answersOfA(paths);
		assertThat(cold).allSatisfy(answer -> assertThat(answer).doesNotContain(" -> 200 "));
		warm(renderings(b)); // B's images rendered for a caller who may read B
		assertThat(answersOfA(paths)).isEqualTo(cold);
	}

	@Test
	void aDeletedInstanceIsNotServedFromTheCache() {
		Stored s = store(patientIdA);
		List<String> paths = renderings(s);
		warm(paths);
		HttpResponse<byte[]> deleted = send(request(s.instance()).DELETE().build());
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(204);
		for (String path : paths) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(404);
		}
	}

	@Test
	void anInstanceWhoseBytesAreGoneIsNotServedFromTheCache() {
		Stored s = store(patientIdA);
		List<String> paths = renderings(s);
		warm(paths);
		// the study still lists it; the blob file is gone (a storage fault, a cleanup)
		Path blob = blobFileHolding(s.bytes());
		try {
			Files.delete(blob);
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		for (String path : paths) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(404);
		}
	}
}
