package org.dicomfhir.example;

import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.function.UnaryOperator;

import org.springframework.beans.BeanWrapperImpl;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * PS3.18 rendered and thumbnail resources and WADO-URI rendering over real HTTP (see
 * docs/dicomweb.md): the images are decoded here with javax.imageio.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebRenderedTest extends AbstractServerTest {

	private static final String EXT_STUDY = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457";
	private static final String EXT_SERIES = "1.3.6.1.4.1.5962.1.3.8.1.20040826185059.5457";
	private static final String EXT_SOP = "1.3.6.1.4.1.5962.1.1.8.1.5.20040826185059.5457";

	private static final String MR_J2K_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457";
	private static final String MR_J2K_SERIES = "1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457";
	private static final String MR_J2K_SOP = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457";

	private String ctStudy;
	private String ctSeries;
	private String ctSop;
	private Stored mf;
	private Stored ext;
	private Stored corruptExt;

	/** A corpus instance stored under new UIDs (of the same lengths). */
	private record Stored(String study, String series, String sop) {
		String instance() {
			return "dicomweb/studies/" + study + "/series/" + series + "/instances/" + sop;
		}

		String uriIds() {
			return "requestType=WADO&studyUID=" + study + "&seriesUID=" + series + "&objectUID=" + sop;
		}
	}

	@BeforeAll
	void store() {
		ctStudy = DicomFixtures.newStudyUid();
		ctSeries = DicomFixtures.newSeriesUid();
		HttpResponse<byte[]> r = stow(DicomFixtures.ctInstance(ctStudy, ctSeries));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		ctSop = json(r).at("/00081199/Value/0/00081155/Value/0").asText();
		// emri_small: 10 frames of 64 × 64, 16-bit MR, J2K lossless
		mf = storeCopy("pydicom-data/emri_small_jpeg_2k_lossless.dcm", DicomFixtures.EMRI_STUDY, DicomFixtures.EMRI_SERIES,
				DicomFixtures.EMRI_SOP, UnaryOperator.identity());
		// JPGExtended: 12-bit lossy JPEG (libjpeg-turbo in the core); JPEG-lossy: the same instance with
		// a codestream no decoder takes (same UIDs in the corpus)
		ext = storeCopy("pydicom/JPGExtended.dcm", EXT_STUDY, EXT_SERIES, EXT_SOP, UnaryOperator.identity());
		corruptExt = storeCopy("pydicom/JPEG-lossy.dcm", EXT_STUDY, EXT_SERIES, EXT_SOP, UnaryOperator.identity());
	}

	/** Stores {@code theFile} of the corpus, its UIDs replaced by new ones and then {@code theEdit} applied. */
	private Stored storeCopy(String theFile, String theStudy, String theSeries, String theSop, UnaryOperator<byte[]> theEdit) {
		Stored copy = new Stored(DicomFixtures.newUid(theStudy.length()), DicomFixtures.newUid(theSeries.length()),
				DicomFixtures.newUid(theSop.length()));
		byte[] bytes = DicomFixtures.replace(DicomFixtures.read(theFile),
				Map.of(theStudy, copy.study(), theSeries, copy.series(), theSop, copy.sop()));
		HttpResponse<byte[]> r = stow(theEdit.apply(bytes));
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		return copy;
	}

	private String ct() {
		return "dicomweb/studies/" + ctStudy + "/series/" + ctSeries + "/instances/" + ctSop;
	}

	private String mf() {
		return mf.instance();
	}

	@Test
	void renderedCtIsAJpegByDefaultAndAPngOnRequest() throws IOException {
		// no Accept: JPEG, the PS3.18 default
		for (String[] asked : new String[][] {{null, "image/jpeg"}, {"image/png", "image/png"}}) {
			HttpResponse<byte[]> r = get(ct() + "/rendered", asked[0]);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
			assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo(asked[1]);
			BufferedImage img = image(r);
			assertThat(img.getWidth()).isEqualTo(128);
			assertThat(img.getHeight()).isEqualTo(128);
		}
		// the accept query parameter wins over the header (PS3.18 §8.3.3.1)
		HttpResponse<byte[]> r = get(ct() + "/rendered?accept=image/png", "image/jpeg");
		assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo("image/png");
		// a media type we do not produce
		r = get(ct() + "/rendered", "image/gif");
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("image/jpeg").contains("image/png");
	}

	@Test
	void windowAndViewportChangeTheImage() throws IOException {
		BufferedImage plain = image(get(ct() + "/rendered", "image/png"));
		BufferedImage narrow = image(get(ct() + "/rendered?window=40,80,linear", "image/png"));
		assertThat(mean(narrow)).isNotCloseTo(mean(plain), org.assertj.core.data.Offset.offset(2.0));
		HttpResponse<byte[]> r = get(ct() + "/rendered?viewport=64,32", "image/png");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(image(r).getWidth()).isEqualTo(32);
		assertThat(image(r).getHeight()).isEqualTo(32);
		// hostile or malformed values: 400 with the reason, never a 500
		for (String q : List.of("window=40", "window=a,b", "window=40,0", "window=40,400,cubic", "viewport=0,10",
				"viewport=100000,100000", "viewport=-1,5", "quality=0", "quality=abc", "window=NaN,5")) {
			r = get(ct() + "/rendered?" + q, null);
			assertThat(r.statusCode()).as(q + ": " + bodyText(r)).isEqualTo(400);
		}
		// annotation is not applied: the image comes with a Warning
		r = get(ct() + "/rendered?annotation=patient", null);
		assertThat(r.statusCode()).isEqualTo(200);
		assertThat(r.headers().firstValue("Warning").orElse("")).contains("annotation");
	}

	@Test
	void frameNOfAMultiFrameInstanceIsFrameN() throws IOException {
		HttpResponse<byte[]> one = get(mf() + "/frames/1/rendered", "image/png");
		HttpResponse<byte[]> two = get(mf() + "/frames/2/rendered", "image/png");
		assertThat(one.statusCode()).as(bodyText(one)).isEqualTo(200);
		assertThat(two.statusCode()).as(bodyText(two)).isEqualTo(200);
		assertThat(image(two).getWidth()).isEqualTo(64);
		assertThat(pixels(image(one))).isNotEqualTo(pixels(image(two)));
		assertThat(pixels(image(get(mf() + "/rendered", "image/png")))).isEqualTo(pixels(image(one)));
		assertThat(get(mf() + "/frames/11/rendered", null).statusCode()).isEqualTo(400);
		assertThat(get(mf() + "/frames/0/rendered", null).statusCode()).isEqualTo(400);
		assertThat(get(mf() + "/frames/1,2/rendered", null).statusCode()).isEqualTo(400);
	}

	// ------------------------------------------------------------------ study and series rendered

	/** A new study of one series of three CT_small instances; returns its URL. */
	private String threeInstanceSeries() {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		for (int i = 0; i < 3; i++) {
			HttpResponse<byte[]> r = stow(DicomFixtures.ctInstance(study, series));
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		}
		return "dicomweb/studies/" + study + "/series/" + series;
	}

	@Test
	void aSeriesRendersAsAMultipartOfEveryInstanceInTheStudysOrder() {
		String series = threeInstanceSeries();
		HttpResponse<byte[]> r = get(series + "/rendered?viewport=64,64", "multipart/related; type=\"image/png\"");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("multipart/related").contains("type=\"image/png\"");
		assertThat(r.headers().firstValue("ETag")).isPresent();
		List<byte[]> parts = Multipart.partsByContentLength(r);
		// the order of the series' metadata (the study's own order), each part that instance's /rendered
		List<String> sops = new ArrayList<>();
		json(get(series + "/metadata", "application/dicom+json")).forEach(i -> sops.add(i.at("/00080018/Value/0").asText()));
		assertThat(sops).hasSize(3);
		assertThat(parts).hasSize(3);
		List<String> locations = new ArrayList<>();
		Matcher m = Pattern.compile("Content-Location: (\\S+)").matcher(new String(r.body(), StandardCharsets.ISO_8859_1));
		while (m.find()) {
			locations.add(m.group(1));
		}
		for (int i = 0; i < 3; i++) {
			assertThat(locations.get(i)).endsWith("/instances/" + sops.get(i) + "/rendered");
			HttpResponse<byte[]> one = get(series + "/instances/" + sops.get(i) + "/rendered?viewport=64,64", "image/png");
			assertThat(parts.get(i)).isEqualTo(one.body());
		}
		// the study level, JPEG (the default), with Accept image/jpeg or none
		for (String accept : new String[] {"image/jpeg", null, "multipart/related; type=\"image/jpeg\""}) {
			HttpResponse<byte[]> study = get(series.substring(0, series.indexOf("/series/")) + "/rendered", accept);
			assertThat(study.statusCode()).as(accept + ": " + bodyText(study)).isEqualTo(200);
			assertThat(study.headers().firstValue("Content-Type").orElse("")).contains("type=\"image/jpeg\"");
			assertThat(Multipart.partsByContentLength(study)).hasSize(3).allSatisfy(p -> assertThat(p).startsWith(0xFF, 0xD8));
		}
	}

	@Test
	void aStudyRenderedBeyondTheConfiguredLimitsIs413NamingTheLimit() throws Exception {
		String series = threeInstanceSeries();
		try (AutoCloseable restore = limit("renderedMaxInstances", 2)) {
			HttpResponse<byte[]> r = get(series + "/rendered", null);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
			assertThat(bodyText(r)).contains("dicomfhir.dicomweb.rendered-max-instances").contains("3");
		}
		try (AutoCloseable restore = limit("renderedMaxBytes", 1000L)) {
			HttpResponse<byte[]> r = get(series + "/rendered", null);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
			assertThat(bodyText(r)).contains("dicomfhir.dicomweb.rendered-max-bytes");
		}
		assertThat(get(series + "/rendered", null).statusCode()).isEqualTo(200);
	}

	/** Hostile or careless requests: bad parameters, media types we do not produce, an undecodable instance. */
	@Test
	void aStudyRenderedRefusesWhatAnInstanceWouldRefuseBeforeTheFirstByte() {
		String series = threeInstanceSeries();
		for (String q : List.of("viewport=0,0", "viewport=-5,10", "window=40,-1", "quality=0", "viewport=NaN,NaN")) {
			HttpResponse<byte[]> r = get(series + "/rendered?" + q, null);
			assertThat(r.statusCode()).as(q + ": " + bodyText(r)).isEqualTo(400);
		}
		assertThat(get(series + "/rendered", "multipart/related; type=\"image/gif\"").statusCode()).isEqualTo(406);
		assertThat(get(series + "/rendered", "application/dicom").statusCode()).isEqualTo(406);
		// a study holding an instance that does not decode is 406 as a whole, naming it
		HttpResponse<byte[]> r = get("dicomweb/studies/" + corruptExt.study() + "/rendered", null);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains(corruptExt.sop());
		assertThat(get("dicomweb/studies/" + DicomFixtures.newStudyUid() + "/rendered", null).statusCode()).isEqualTo(404);
	}

	private AutoCloseable limit(String theProperty, Object theValue) {
		BeanWrapperImpl props = new BeanWrapperImpl(bean(DicomWebProperties.class));
		Object before = props.getPropertyValue(theProperty);
		props.setPropertyValue(theProperty, theValue);
		return () -> props.setPropertyValue(theProperty, before);
	}

	@Test
	void anUndecodableInstanceIs406WithTheReason() {
		HttpResponse<byte[]> r = get(corruptExt.instance() + "/rendered", null);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("1.2.840.10008.1.2.4.51").contains("12-bit");
	}

	@Test
	void twelveBitLossyJpegRenders() throws IOException {
		HttpResponse<byte[]> r = get(ext.instance() + "/rendered", "image/png");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		BufferedImage img = image(r);
		assertThat(img.getWidth()).isEqualTo(256);
		assertThat(img.getHeight()).isEqualTo(1024);
		assertThat(get(ext.instance() + "/thumbnail", null).statusCode()).isEqualTo(200);
	}

	/**
	 * A hostile header: Rows = Columns = 65535, 3 samples of 16 bits (25 GB a frame) over the few
	 * kilobytes of JPEG 2000 of MR_small. Stored as sent (the header is valid DICOM), but rendering
	 * it is refused with 413 and the reason, at every resource that would decode it.
	 */
	@Test
	void aFrameBeyondTheRenderLimitIs413() {
		Stored huge = storeCopy("pydicom/MR_small_jp2klossless.dcm", MR_J2K_STUDY, MR_J2K_SERIES, MR_J2K_SOP,
				b -> withUs(withUs(withUs(b, 0x0010, 65535), 0x0011, 65535), 0x0002, 3));
		String instance = huge.instance();
		for (String path : List.of(instance + "/rendered", instance + "/frames/1/rendered", instance + "/thumbnail",
				"dicomweb/studies/" + huge.study() + "/thumbnail", instance + "/rendered?viewport=64,64",
				"dicomweb?" + huge.uriIds())) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(413);
			assertThat(bodyText(r)).as(path).contains("65535×65535").contains("render limit");
		}
	}

	/**
	 * A rendering is a pure function of the stored bytes and the parameters: a strong ETag, and
	 * If-None-Match answered 304 without a body; other parameters, another ETag. Revalidation
	 * still checks the request: a study the caller cannot see stays 404.
	 */
	@Test
	void renderedImagesHaveAStrongEtagAndAnswer304() {
		List<String> paths = List.of(ct() + "/rendered", ct() + "/rendered?window=40,80", ct() + "/rendered?viewport=64,64",
				ct() + "/rendered?quality=50", mf() + "/frames/2/rendered", mf() + "/frames/3/rendered", ct() + "/thumbnail",
				mf() + "/thumbnail", "dicomweb/studies/" + ctStudy + "/thumbnail", ct() + "/thumbnail?viewport=32,32",
				"dicomweb?requestType=WADO&studyUID=" + ctStudy + "&seriesUID=" + ctSeries + "&objectUID=" + ctSop);
		java.util.Set<String> etags = new java.util.HashSet<>();
		for (String path : paths) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(200);
			String etag = r.headers().firstValue("ETag").orElse("");
			assertThat(etag).as(path).matches("\"[^\"]+\"");
			assertThat(r.headers().firstValue("Cache-Control").orElse("")).as(path).contains("private").contains("no-cache");
			etags.add(path);
			etags.add(etag);
			for (String inm : List.of(etag, "W/" + etag, "\"other\", " + etag, "*")) {
				HttpResponse<byte[]> again = send(request(path).header("If-None-Match", inm).GET().build());
				assertThat(again.statusCode()).as(path + " If-None-Match " + inm).isEqualTo(304);
				assertThat(again.body()).as(path).isEmpty();
				assertThat(again.headers().firstValue("ETag").orElse("")).as(path).isEqualTo(etag);
			}
			HttpResponse<byte[]> other = send(request(path).header("If-None-Match", "\"other\"").GET().build());
			assertThat(other.statusCode()).as(path).isEqualTo(200);
			assertThat(other.body()).as(path).isEqualTo(r.body());
		}
		// the same image, the same tag: the study thumbnail is its only instance's, WADO-URI's default
		// is /rendered's; every other parameter set has its own
		assertThat(etags).hasSize(paths.size() * 2 - 2);
		assertThat(get(paths.get(paths.size() - 1), null).headers().firstValue("ETag"))
				.isEqualTo(get(ct() + "/rendered", null).headers().firstValue("ETag"));
		assertThat(get("dicomweb/studies/" + ctStudy + "/thumbnail", null).headers().firstValue("ETag"))
				.isEqualTo(get(ct() + "/thumbnail", null).headers().firstValue("ETag"));
		// PNG is another representation than JPEG
		assertThat(get(ct() + "/rendered", "image/png").headers().firstValue("ETag"))
				.isNotEqualTo(get(ct() + "/rendered", "image/jpeg").headers().firstValue("ETag"));
		// a tag does not open a study that does not exist
		String etag = get(ct() + "/rendered", null).headers().firstValue("ETag").orElseThrow();
		HttpResponse<byte[]> r = send(request("dicomweb/studies/" + DicomFixtures.newStudyUid() + "/series/" + ctSeries + "/instances/"
				+ ctSop + "/rendered").header("If-None-Match", etag).GET().build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(404);
	}

	/** {@code theDicom} with the US value of (0028,theElement) (Explicit VR Little Endian) set to theValue. */
	private static byte[] withUs(byte[] theDicom, int theElement, int theValue) {
		byte[] out = theDicom.clone();
		byte[] header = {0x28, 0x00, (byte) theElement, (byte) (theElement >> 8), 'U', 'S', 0x02, 0x00};
		for (int i = 0; i + header.length + 2 <= out.length; i++) {
			if (java.util.Arrays.equals(out, i, i + header.length, header, 0, header.length)) {
				out[i + 8] = (byte) theValue;
				out[i + 9] = (byte) (theValue >> 8);
				return out;
			}
		}
		throw new AssertionError("(0028," + Integer.toHexString(theElement) + ") not found");
	}

	@Test
	void thumbnailsAreSmallAtEveryLevel() throws IOException {
		for (String path : List.of(ct() + "/thumbnail", "dicomweb/studies/" + ctStudy + "/thumbnail",
				"dicomweb/studies/" + ctStudy + "/series/" + ctSeries + "/thumbnail", mf() + "/thumbnail")) {
			HttpResponse<byte[]> r = get(path, null);
			assertThat(r.statusCode()).as(path + ": " + bodyText(r)).isEqualTo(200);
			assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo("image/jpeg");
			BufferedImage t = image(r);
			assertThat(Math.max(t.getWidth(), t.getHeight())).as(path).isLessThanOrEqualTo(128);
		}
		// the second request is the cached image
		assertThat(get(ct() + "/thumbnail", null).body()).isEqualTo(get(ct() + "/thumbnail", null).body());
		HttpResponse<byte[]> r = get(ct() + "/thumbnail?viewport=32,32", "image/png");
		assertThat(image(r).getWidth()).isEqualTo(32);
	}

	@Test
	void wadoUriRendersJpegByDefault() throws IOException {
		String ids = "requestType=WADO&studyUID=" + ctStudy + "&seriesUID=" + ctSeries + "&objectUID=" + ctSop;
		HttpResponse<byte[]> r = get("dicomweb?" + ids, null);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo("image/jpeg");
		assertThat(image(r).getWidth()).isEqualTo(128);
		r = get("dicomweb?" + ids + "&contentType=image/png&rows=64&columns=64&windowCenter=40&windowWidth=400", null);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(r.headers().firstValue("Content-Type").orElse("")).isEqualTo("image/png");
		assertThat(image(r).getWidth()).isEqualTo(64);
		assertThat(get("dicomweb?" + ids + "&windowCenter=40", null).statusCode()).isEqualTo(400);
		assertThat(get("dicomweb?" + ids + "&contentType=image/gif", null).statusCode()).isEqualTo(406);
		assertThat(pixels(image(get("dicomweb?" + mf.uriIds() + "&contentType=image/png&frameNumber=2", null))))
				.isEqualTo(pixels(image(get(mf() + "/frames/2/rendered", "image/png"))));
	}

	/**
	 * The source rectangle of WADO-RS (viewport=vw,vh,sx,sy,sw,sh) and WADO-URI's region: that
	 * part of the full rendering; hostile values are 400 with the reason, never a 500.
	 */
	@Test
	void aSourceRegionRendersThatPartAndHostileValuesAre400() throws IOException {
		BufferedImage full = image(get(ct() + "/rendered", "image/png"));
		BufferedImage part = image(get(ct() + "/rendered?viewport=40,20,10,30,40,20", "image/png"));
		assertThat(pixels(part)).isEqualTo(full.getSubimage(10, 30, 40, 20).getRGB(0, 0, 40, 20, null, 0, 40));
		String ids = "requestType=WADO&studyUID=" + ctStudy + "&seriesUID=" + ctSeries + "&objectUID=" + ctSop;
		BufferedImage middle = image(get("dicomweb?" + ids + "&contentType=image/png&region=0.25,0.25,0.75,0.75", null));
		assertThat(pixels(middle)).isEqualTo(full.getSubimage(32, 32, 64, 64).getRGB(0, 0, 64, 64, null, 0, 64));
		// region first, then rows/columns (PS3.18 §9.5.1.2.1)
		BufferedImage small = image(get("dicomweb?" + ids + "&contentType=image/png&region=0,0,0.5,0.5&rows=32&columns=32", null));
		assertThat(small.getWidth()).isEqualTo(32);
		for (String q : List.of("viewport=64,64,-1,0,10,10", "viewport=64,64,120,0,10,10", "viewport=64,64,0,0,0,10",
				"viewport=64,64,NaN,0,10,10", "viewport=64,64,0,0,99999999999,10", "viewport=64,64,0,0,10")) {
			HttpResponse<byte[]> r = get(ct() + "/rendered?" + q, null);
			assertThat(r.statusCode()).as(q + ": " + bodyText(r)).isEqualTo(400);
		}
		for (String q : List.of("region=-0.1,0,1,1", "region=0,0,2,1", "region=0.5,0,0.5,1", "region=NaN,0,1,1",
				"region=0,0,1e308,1", "region=0,0,1", "region=")) {
			HttpResponse<byte[]> r = get("dicomweb?" + ids + "&" + q, null);
			assertThat(r.statusCode()).as(q + ": " + bodyText(r)).isEqualTo(400);
		}
		// a thumbnail's viewport is vw,vh only
		assertThat(get(ct() + "/thumbnail?viewport=64,64,0,0,10,10", null).statusCode()).isEqualTo(400);
	}

	private HttpResponse<byte[]> stow(byte[] theInstance) {
		return send(stowRequest("dicomweb/studies", List.of(theInstance)).build());
	}

	private static BufferedImage image(HttpResponse<byte[]> theResponse) throws IOException {
		assertThat(theResponse.statusCode()).as(bodyText(theResponse)).isEqualTo(200);
		BufferedImage img = ImageIO.read(new ByteArrayInputStream(theResponse.body()));
		assertThat(img).as("decodable image").isNotNull();
		return img;
	}

	private static int[] pixels(BufferedImage theImage) {
		return theImage.getRGB(0, 0, theImage.getWidth(), theImage.getHeight(), null, 0, theImage.getWidth());
	}

	private static double mean(BufferedImage theImage) {
		double sum = 0;
		for (int p : pixels(theImage)) {
			sum += p & 0xFF;
		}
		return sum / (theImage.getWidth() * theImage.getHeight());
	}
}
