package org.dicomfhir.example;

import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.dicomfhir.hapi.dicomweb.RenderedImageCache;
import org.junit.jupiter.api.Test;
import org.springframework.beans.BeanWrapperImpl;

import java.net.http.HttpResponse;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The rendered-image cache (docs/dicomweb.md, "Rendered images"): a repeated request is answered
 * from it with the same bytes; every parameter that changes the image (window, viewport, quality,
 * media type, frame, thumbnail or not) is its own entry; the byte bound holds and 0 turns it off.
 * Who may see what is DicomWebRenderedCacheAccessTest's.
 */
class DicomWebRenderedCacheTest extends AbstractServerTest {

	private RenderedImageCache cache() {
		return bean(RenderedImageCache.class);
	}

	private byte[] image(String thePath, String theAccept) {
		HttpResponse<byte[]> r = get(thePath, theAccept);
		assertThat(r.statusCode()).as(thePath + ": " + bodyText(r)).isEqualTo(200);
		return r.body();
	}

	private AutoCloseable bound(long theBytes) {
		BeanWrapperImpl props = new BeanWrapperImpl(bean(DicomWebProperties.class));
		Object before = props.getPropertyValue("renderedCacheBytes");
		props.setPropertyValue("renderedCacheBytes", theBytes);
		return () -> props.setPropertyValue("renderedCacheBytes", before);
	}

	@Test
	void aRepeatedRequestIsAnsweredFromTheCacheWithTheSameBytes() {
		StoredCt ct = storeCt();
		for (String path : List.of(ct.instance() + "/rendered", ct.instance() + "/thumbnail", "dicomweb/studies/" + ct.study() + "/thumbnail",
				"dicomweb/?requestType=WADO&studyUID=" + ct.study() + "&seriesUID=" + ct.series() + "&objectUID=" + ct.sop())) {
			byte[] first = image(path, null);
			long hits = cache().hits();
			byte[] again = image(path, null);
			assertThat(cache().hits()).as(path + " answered from the cache").isEqualTo(hits + 1);
			assertThat(again).as(path).isEqualTo(first);
		}
	}

	@Test
	void everyParameterThatChangesTheImageIsItsOwnEntry() {
		StoredCt ct = storeCt();
		String rendered = ct.instance() + "/rendered";
		Map<String, byte[]> images = new LinkedHashMap<>();
		Map<String, String[]> asked = new LinkedHashMap<>();
		asked.put("default", new String[] {rendered, null});
		asked.put("window", new String[] {rendered + "?window=40,80,linear", null});
		asked.put("other window", new String[] {rendered + "?window=300,1500,linear", null});
		asked.put("viewport", new String[] {rendered + "?viewport=64,64", null});
		asked.put("quality", new String[] {rendered + "?quality=20", null});
		asked.put("png", new String[] {rendered, "image/png"});
		asked.put("thumbnail", new String[] {ct.instance() + "/thumbnail?viewport=100,100", null});
		asked.put("thumbnail png", new String[] {ct.instance() + "/thumbnail?viewport=100,100", "image/png"});
		asked.put("WADO-URI rows", new String[] {"dicomweb/?requestType=WADO&studyUID=" + ct.study() + "&seriesUID=" + ct.series()
				+ "&objectUID=" + ct.sop() + "&rows=50", null});
		// each twice: the second comes from the cache and must be the image of its own parameters
		for (int round = 0; round < 2; round++) {
			for (Map.Entry<String, String[]> e : asked.entrySet()) {
				byte[] image = image(e.getValue()[0], e.getValue()[1]);
				if (round == 0) {
					images.put(e.getKey(), image);
				} else {
					assertThat(image).as(e.getKey() + " again").isEqualTo(images.get(e.getKey()));
				}
			}
		}
		List<String> names = List.copyOf(images.keySet());
		for (int i = 0; i < names.size(); i++) {
			for (int j = i + 1; j < names.size(); j++) {
				assertThat(Arrays.equals(images.get(names.get(i)), images.get(names.get(j))))
						.as(names.get(i) + " vs " + names.get(j)).isFalse();
			}
		}
	}

	@Test
	void framesOfOneInstanceAreTheirOwnEntries() {
		String study = DicomFixtures.newUid(DicomFixtures.EMRI_STUDY.length());
		String series = DicomFixtures.newUid(DicomFixtures.EMRI_SERIES.length());
		String sop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		byte[] bytes = DicomFixtures.replace(DicomFixtures.read("pydicom-data/emri_small_jpeg_2k_lossless.dcm"),
				Map.of(DicomFixtures.EMRI_STUDY, study, DicomFixtures.EMRI_SERIES, series, DicomFixtures.EMRI_SOP, sop));
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(bytes)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		String instance = "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop;
		byte[] one = image(instance + "/frames/1/rendered", "image/png");
		byte[] five = image(instance + "/frames/5/rendered", "image/png");
		assertThat(image(instance + "/frames/5/rendered", "image/png")).isEqualTo(five);
		assertThat(image(instance + "/frames/1/rendered", "image/png")).isEqualTo(one);
		assertThat(five).isNotEqualTo(one);
		assertThat(image(instance + "/frames/5/thumbnail", "image/png")).isNotEqualTo(image(instance + "/thumbnail", "image/png"));
	}

	@Test
	void theCacheHoldsItsByteBoundAndZeroTurnsItOff() throws Exception {
		StoredCt ct = storeCt();
		long max = 60_000;
		try (AutoCloseable ignored = bound(max)) {
			for (int size = 40; size <= 128; size += 8) {
				image(ct.instance() + "/rendered?viewport=" + size + "," + size, "image/png");
				assertThat(cache().bytes()).as("after a %d px image", size).isLessThanOrEqualTo(max);
			}
			assertThat(cache().size()).isPositive();
		}
		try (AutoCloseable ignored = bound(0)) {
			String path = ct.instance() + "/rendered?viewport=90,90";
			byte[] first = image(path, null);
			long hits = cache().hits();
			assertThat(image(path, null)).isEqualTo(first);
			assertThat(cache().hits()).as("off: nothing answered from it").isEqualTo(hits);
			assertThat(cache().bytes()).as("off: nothing kept").isZero();
		}
	}
}
