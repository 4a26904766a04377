package org.dicomfhir.example;

import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.beans.BeanWrapperImpl;

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
 * WADO-RS transcoding to Explicit VR Little Endian over real HTTP (docs/dicomweb.md, "WADO-RS").
 * emri_small_jpeg_2k_lossless is emri_small compressed losslessly: its decoded frames must be
 * emri_small's native pixel bytes, cut from the file here, independently of the server's core.
 * Hostile input first: a truncated codestream, a codestream labelled with a syntax we cannot
 * decode, a 12-bit lossy JPEG no decoder takes (JPEG-lossy), a syntax we cannot produce, a decoded size beyond the limit.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebTranscodeTest extends AbstractServerTest {

	private static final String EVRLE = "1.2.840.10008.1.2.1";
	private static final String DICOM_EVRLE = "multipart/related; type=\"application/dicom\"; transfer-syntax=" + EVRLE;
	private static final String OCTET_EVRLE = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EVRLE;
	private static final String JPGEXT_STUDY = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457";
	private static final String JPGEXT_SERIES = "1.3.6.1.4.1.5962.1.3.8.1.20040826185059.5457";
	private static final String JPGEXT_SOP = "1.3.6.1.4.1.5962.1.1.8.1.5.20040826185059.5457";
	private static final int FRAME = 64 * 64 * 2;

	private String study;
	private String series;
	private String j2kSop;
	private String truncatedSop;
	private byte[] nativePixels;
	/** A study of a decodable J2K instance and a J2K codestream labelled JPEG Extended 16-bit. */
	private String mixedStudy;
	private String mixedSeries;
	private String mislabelledSop;
	private String jpgExtended;
	private String corruptJpgExtended;

	@BeforeAll
	void store() {
		byte[] emri = DicomFixtures.read("pydicom-data/emri_small.dcm");
		nativePixels = Arrays.copyOfRange(emri, emri.length - 10 * FRAME, emri.length);
		byte[] j2k = DicomFixtures.read("pydicom-data/emri_small_jpeg_2k_lossless.dcm");
		study = DicomFixtures.newUid(DicomFixtures.EMRI_STUDY.length());
		series = DicomFixtures.newUid(DicomFixtures.EMRI_SERIES.length());
		j2kSop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		truncatedSop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		byte[] truncated = truncateFirstCodestream(DicomFixtures.replace(j2k, Map.of(DicomFixtures.EMRI_STUDY, study, DicomFixtures.EMRI_SERIES, series, DicomFixtures.EMRI_SOP, truncatedSop)));
		stow(DicomFixtures.replace(j2k, Map.of(DicomFixtures.EMRI_STUDY, study, DicomFixtures.EMRI_SERIES, series, DicomFixtures.EMRI_SOP, j2kSop)), truncated);

		mixedStudy = DicomFixtures.newUid(DicomFixtures.EMRI_STUDY.length());
		mixedSeries = DicomFixtures.newUid(DicomFixtures.EMRI_SERIES.length());
		mislabelledSop = DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length());
		// the same codestream, its transfer syntax (same length) now JPEG Extended with 16-bit samples
		byte[] mislabelled = DicomFixtures.replace(j2k, Map.of(DicomFixtures.EMRI_STUDY, mixedStudy, DicomFixtures.EMRI_SERIES, mixedSeries, DicomFixtures.EMRI_SOP, mislabelledSop,
				"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.51"));
		stow(DicomFixtures.replace(j2k, Map.of(DicomFixtures.EMRI_STUDY, mixedStudy, DicomFixtures.EMRI_SERIES, mixedSeries, DicomFixtures.EMRI_SOP, DicomFixtures.newUid(DicomFixtures.EMRI_SOP.length()))),
				mislabelled);

		String s = DicomFixtures.newUid(JPGEXT_STUDY.length());
		String se = DicomFixtures.newUid(JPGEXT_SERIES.length());
		String sop = DicomFixtures.newUid(JPGEXT_SOP.length());
		stow(DicomFixtures.replace(DicomFixtures.read("pydicom/JPGExtended.dcm"), Map.of(JPGEXT_STUDY, s, JPGEXT_SERIES, se, JPGEXT_SOP, sop)));
		jpgExtended = "dicomweb/studies/" + s + "/series/" + se + "/instances/" + sop;
		// JPEG-lossy.dcm: the same UIDs, a 12-bit codestream no decoder takes (pylibjpeg neither)
		sop = DicomFixtures.newUid(JPGEXT_SOP.length());
		stow(DicomFixtures.replace(DicomFixtures.read("pydicom/JPEG-lossy.dcm"), Map.of(JPGEXT_STUDY, s, JPGEXT_SERIES, se, JPGEXT_SOP, sop)));
		corruptJpgExtended = "dicomweb/studies/" + s + "/series/" + se + "/instances/" + sop;
	}

	// ------------------------------------------------------------------ retrieve

	@Test
	void aJpeg2000InstanceAskedForInExplicitLittleEndianComesBackDecoded_sameInstance_samePixels() {
		for (String accept : List.of(DICOM_EVRLE, "application/dicom; transfer-syntax=" + EVRLE)) {
			HttpResponse<byte[]> r = get(instanceUrl(j2kSop), accept);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
			byte[] instance = accept.startsWith("multipart") ? Multipart.partsByContentLength(r).get(0) : r.body();
			assertThat(r.headers().firstValue("Content-Type").orElseThrow() + new String(r.body(), 0, 300, StandardCharsets.ISO_8859_1))
					.contains("transfer-syntax=" + EVRLE);
			String text = new String(instance, StandardCharsets.ISO_8859_1);
			assertThat(text.substring(128, 132)).isEqualTo("DICM");
			assertThat(text).contains(j2kSop).contains(EVRLE).doesNotContain("1.2.840.10008.1.2.4.90");
			// Pixel Data is the last element: its value is emri_small's pixels
			assertThat(Arrays.copyOfRange(instance, instance.length - nativePixels.length, instance.length)).isEqualTo(nativePixels);
		}
		// as stored stays as stored
		HttpResponse<byte[]> stored = get(instanceUrl(j2kSop), "multipart/related; type=\"application/dicom\"; transfer-syntax=*");
		assertThat(new String(Multipart.partsByContentLength(stored).get(0), StandardCharsets.ISO_8859_1)).contains("1.2.840.10008.1.2.4.90");
		assertThat(Multipart.partsByContentLength(get(instanceUrl(j2kSop), "multipart/related; type=\"application/dicom\"")).get(0))
				.as("no transfer-syntax: as stored").isEqualTo(Multipart.partsByContentLength(stored).get(0));
	}

	@Test
	void aSyntaxWeCannotProduceIs406() {
		HttpResponse<byte[]> r = get(instanceUrl(j2kSop), "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.50");
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("Explicit VR Little Endian only");
		r = get(instanceUrl(j2kSop) + "/frames/1", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.91");
		assertThat(r.statusCode()).isEqualTo(406);
	}

	@Test
	void aTwelveBitLossyJpegNoDecoderTakesIs406WithTheReason() {
		HttpResponse<byte[]> r = get(corruptJpgExtended, DICOM_EVRLE);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains("12-bit").contains("transfer-syntax=*");
		r = get(corruptJpgExtended + "/frames/1", OCTET_EVRLE);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(get(corruptJpgExtended, "multipart/related; type=\"application/dicom\"; transfer-syntax=*").statusCode()).isEqualTo(200);
	}

	@Test
	void twelveBitLossyJpegTranscodes() {
		HttpResponse<byte[]> r = get(jpgExtended, DICOM_EVRLE);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		byte[] instance = Multipart.partsByContentLength(r).get(0);
		// the File Meta names Explicit VR Little Endian (a 19-character UID, NUL-padded)
		assertThat(new String(instance, StandardCharsets.ISO_8859_1)).contains(EVRLE + "\0");
		assertThat(instance.length).isGreaterThan(1024 * 256 * 2);
		r = get(jpgExtended + "/frames/1", OCTET_EVRLE);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		// one part: 1024 × 256 samples of 16 bits
		assertThat(Multipart.partsByContentLength(r)).singleElement().satisfies(f -> assertThat(f).hasSize(1024 * 256 * 2));
	}

	@Test
	void aStudyWithOneInstanceThatCannotBeDecodedIs406AsAWhole() {
		HttpResponse<byte[]> r = get("dicomweb/studies/" + mixedStudy, DICOM_EVRLE);
		assertThat(r.statusCode()).isEqualTo(406);
		assertThat(bodyText(r)).contains(mislabelledSop).contains("1.2.840.10008.1.2.4.51");
		// as stored, the whole study
		assertThat(Multipart.partsByContentLength(get("dicomweb/studies/" + mixedStudy, "multipart/related; type=\"application/dicom\"; transfer-syntax=*")))
				.hasSize(2);
	}

	@Test
	void aTruncatedCodestreamIs406AndTheServerKeepsAnswering() {
		HttpResponse<byte[]> r = get(instanceUrl(truncatedSop), DICOM_EVRLE);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(406);
		assertThat(bodyText(r)).contains("could not be decoded");
		r = get(instanceUrl(truncatedSop) + "/frames/1", OCTET_EVRLE);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(406);
		// frame 2 of the same instance is intact
		r = get(instanceUrl(truncatedSop) + "/frames/2", OCTET_EVRLE);
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		assertThat(Multipart.partsByContentLength(r).get(0)).isEqualTo(Arrays.copyOfRange(nativePixels, FRAME, 2 * FRAME));
	}

	// ------------------------------------------------------------------ frames

	@Test
	void decodedFramesAreTheNativeFramesInRequestOrder_alsoForAnOctetStreamWithoutTransferSyntax() {
		int[] order = {5, 1, 5, 10};
		for (String accept : List.of(OCTET_EVRLE, "multipart/related; type=\"application/octet-stream\"")) {
			HttpResponse<byte[]> r = get(instanceUrl(j2kSop) + "/frames/5,1,5,10", accept);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
			List<byte[]> parts = Multipart.partsByContentLength(r);
			assertThat(parts).hasSize(order.length);
			for (int i = 0; i < order.length; i++) {
				int from = (order[i] - 1) * FRAME;
				assertThat(parts.get(i)).as("frame " + order[i]).isEqualTo(Arrays.copyOfRange(nativePixels, from, from + FRAME));
			}
			assertThat(new String(r.body(), StandardCharsets.ISO_8859_1)).contains("Content-Type: application/octet-stream; transfer-syntax=" + EVRLE);
		}
		HttpResponse<byte[]> single = get(instanceUrl(j2kSop) + "/frames/3", "application/octet-stream; transfer-syntax=" + EVRLE);
		assertThat(single.statusCode()).as(bodyText(single)).isEqualTo(200);
		assertThat(single.body()).isEqualTo(Arrays.copyOfRange(nativePixels, 2 * FRAME, 3 * FRAME));
		// transfer-syntax=* stays the stored codestream
		HttpResponse<byte[]> stored = get(instanceUrl(j2kSop) + "/frames/1", "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*");
		assertThat(new String(stored.body(), StandardCharsets.ISO_8859_1)).contains("transfer-syntax=1.2.840.10008.1.2.4.90");
		assertThat(Multipart.partsByContentLength(stored).get(0)).isNotEqualTo(Arrays.copyOfRange(nativePixels, 0, FRAME));
	}

	@Test
	void aDecodedSizeBeyondTheLimitIs413_decidedBeforeDecoding() throws Exception {
		try (AutoCloseable restore = limit("maxInflatedBytes", 3L * FRAME)) {
			HttpResponse<byte[]> r = get(instanceUrl(j2kSop) + "/frames/1,2,3,4", OCTET_EVRLE);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
			assertThat(bodyText(r)).contains("max-inflated-bytes");
			r = get(instanceUrl(j2kSop), DICOM_EVRLE);
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(413);
			assertThat(get(instanceUrl(j2kSop) + "/frames/1,2,3", OCTET_EVRLE).statusCode()).isEqualTo(200);
		}
	}

	// ------------------------------------------------------------------ helpers

	private AutoCloseable limit(String theProperty, Object theValue) {
		BeanWrapperImpl props = new BeanWrapperImpl(bean(DicomWebProperties.class));
		Object before = props.getPropertyValue(theProperty);
		props.setPropertyValue(theProperty, theValue);
		return () -> props.setPropertyValue(theProperty, before);
	}

	private String instanceUrl(String theSop) {
		return "dicomweb/studies/" + study + "/series/" + series + "/instances/" + theSop;
	}

	private void stow(byte[]... theParts) {
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(theParts)).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
	}

	/**
	 * Cuts frame 1's codestream (the first fragment) to half its length, rewriting the item length
	 * and the Basic Offset Table: a well-formed data set whose first codestream ends early.
	 */
	private static byte[] truncateFirstCodestream(byte[] theFile) {
		int at = Part10.encapsulatedPixelDataItems(theFile);
		ByteBuffer b = ByteBuffer.wrap(theFile).order(ByteOrder.LITTLE_ENDIAN);
		int tableLength = b.getInt(at + 4);
		int first = at + 8 + tableLength; // frame 1's item header
		int length = b.getInt(first + 4);
		int cut = (length / 2) & ~1;
		ByteBuffer out = ByteBuffer.allocate(theFile.length - (length - cut)).order(ByteOrder.LITTLE_ENDIAN);
		out.put(theFile, 0, at + 8);
		for (int i = 0; i < tableLength / 4; i++) {
			int offset = b.getInt(at + 8 + 4 * i);
			out.putInt(i == 0 ? offset : offset - (length - cut));
		}
		out.put(theFile, first, 4).putInt(cut).put(theFile, first + 8, cut);
		out.put(theFile, first + 8 + length, theFile.length - (first + 8 + length));
		return out.array();
	}
}
