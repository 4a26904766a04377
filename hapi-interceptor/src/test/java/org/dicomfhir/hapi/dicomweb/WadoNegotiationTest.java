package org.dicomfhir.hapi.dicomweb;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** WADO-RS Accept negotiation (PS3.18 §8.7): pure functions of the Accept header and what is stored. */
class WadoNegotiationTest {

	private static final String EXPLICIT_LE = "1.2.840.10008.1.2.1";
	private static final String IMPLICIT_LE = "1.2.840.10008.1.2";
	private static final String JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

	private static void assertNotAcceptable(Runnable theNegotiation, String theMessagePart) {
		assertThatThrownBy(theNegotiation::run).isInstanceOfSatisfying(DicomWebException.class, e -> {
			assertThat(e.status()).isEqualTo(406);
			assertThat(e.getMessage()).contains(theMessagePart);
		});
	}

	// ------------------------------------------------------------------ instances

	@Test
	void instancesWithoutAcceptOrWithWildcardsAreMultipartAsStored() {
		for (String accept : new String[] {null, "", "  ", "*/*", "multipart/*"}) {
			WadoService.Choice choice = WadoService.negotiate(accept, false);
			assertThat(choice.multipart()).as(String.valueOf(accept)).isTrue();
			assertThat(choice.transferSyntax()).isNull();
		}
	}

	@Test
	void instancesAsMultipartRelatedApplicationDicom_keepTheRequestedTransferSyntax() {
		WadoService.Choice choice = WadoService.negotiate(
				"multipart/related; type=\"application/dicom\"; transfer-syntax=" + EXPLICIT_LE, false);
		assertThat(choice.multipart()).isTrue();
		assertThat(choice.transferSyntax()).isEqualTo(EXPLICIT_LE);

		assertThat(WadoService.negotiate("Multipart/Related", false).multipart()).as("type defaults to application/dicom").isTrue();
		assertThat(WadoService.negotiate("multipart/related; type=\"application/dicom\"; transfer-syntax=*", false).transferSyntax())
				.isEqualTo(WadoService.ANY_TS);
	}

	@Test
	void singlePartApplicationDicomOnlyForOneInstance() {
		WadoService.Choice single = WadoService.negotiate("application/dicom", true);
		assertThat(single.multipart()).isFalse();

		assertNotAcceptable(() -> WadoService.negotiate("application/dicom", false), "single part: only for one instance");
	}

	@Test
	void theFirstAcceptableRangeWins_andQuotedCommasDoNotSplitRanges() {
		assertThat(WadoService.negotiate("image/png, application/dicom", true).multipart()).isFalse();
		assertThat(WadoService.negotiate("application/dicom, multipart/related; type=\"application/dicom\"", true).multipart()).isFalse();
		assertThat(WadoService.negotiate("multipart/related; type=\"application/dicom,x\", application/dicom", true).multipart())
				.as("the first range's type is 'application/dicom,x': refused, then application/dicom").isFalse();
	}

	@Test
	void nothingAcceptableIs406NamingWhatWasRefused() {
		assertNotAcceptable(() -> WadoService.negotiate("image/png, multipart/related; type=\"image/jpeg\"", true), "image/png");
	}

	// ------------------------------------------------------------------ frames and bulk data

	@Test
	void bulkWithoutAcceptIsMultipartOctetStream() {
		WadoService.BulkChoice choice = WadoService.negotiateBulk(null, JPEG_BASELINE, true);
		assertThat(choice).isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", null));
		assertThat(WadoService.negotiateBulk("*/*", JPEG_BASELINE, false)).isEqualTo(choice);
	}

	@Test
	void compressedFramesInTheirOwnMediaType_orAsImageWildcard() {
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"image/jpeg\"", JPEG_BASELINE, false))
				.isEqualTo(new WadoService.BulkChoice(true, "image/jpeg", null));
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"image/*\"; transfer-syntax=*", JPEG_BASELINE, false))
				.isEqualTo(new WadoService.BulkChoice(true, "image/jpeg", "*"));
		assertThat(WadoService.negotiateBulk("image/jpeg", JPEG_BASELINE, true))
				.isEqualTo(new WadoService.BulkChoice(false, "image/jpeg", null));
	}

	@Test
	void bulkDataIsNotDecoded_butNativePixelDataSatisfiesExplicitLittleEndian() {
		assertNotAcceptable(() -> WadoService.negotiateBulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, JPEG_BASELINE, false),
				"bulk data is served as stored");
		assertThat(WadoService.negotiateBulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, IMPLICIT_LE, false))
				.isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", EXPLICIT_LE));
	}

	@Test
	void compressedFramesAreDecodedForExplicitLittleEndianOrAnOctetStreamWithoutTransferSyntax() {
		WadoService.BulkChoice decoded = new WadoService.BulkChoice(true, "application/octet-stream", EXPLICIT_LE, true);
		assertThat(WadoService.negotiateBulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, JPEG_BASELINE, false, true))
				.isEqualTo(decoded);
		// PS3.18 §8.7.3: octet-stream without transfer-syntax means Explicit VR Little Endian
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"application/octet-stream\"", JPEG_BASELINE, false, true))
				.isEqualTo(decoded);
		assertThat(WadoService.negotiateBulk("application/octet-stream", JPEG_BASELINE, true, true))
				.isEqualTo(new WadoService.BulkChoice(false, "application/octet-stream", EXPLICIT_LE, true));
		// as stored stays as stored: transfer-syntax=*, the stored syntax, its media type, */*, no Accept
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*", JPEG_BASELINE, false, true))
				.isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", "*"));
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"image/jpeg\"", JPEG_BASELINE, false, true))
				.isEqualTo(new WadoService.BulkChoice(true, "image/jpeg", null));
		assertThat(WadoService.negotiateBulk("*/*", JPEG_BASELINE, false, true))
				.isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", null));
		assertThat(WadoService.negotiateBulk(null, JPEG_BASELINE, false, true))
				.isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", null));
		// native frames are never decoded
		assertThat(WadoService.negotiateBulk("multipart/related; type=\"application/octet-stream\"", IMPLICIT_LE, false, true))
				.isEqualTo(new WadoService.BulkChoice(true, "application/octet-stream", null));
		// a syntax we cannot produce
		assertNotAcceptable(() -> WadoService.negotiateBulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.90", JPEG_BASELINE, false, true),
				"decoded to " + EXPLICIT_LE + " only");
	}

	@Test
	void singlePartBulkOnlyWhenThereIsOnePart() {
		assertThat(WadoService.negotiateBulk("application/octet-stream", EXPLICIT_LE, true))
				.isEqualTo(new WadoService.BulkChoice(false, "application/octet-stream", null));
		assertNotAcceptable(() -> WadoService.negotiateBulk("application/octet-stream", EXPLICIT_LE, false),
				"more than one part to send");
	}

	@Test
	void transferSyntaxMediaTypes() {
		assertThat(WadoService.compressedMediaType(JPEG_BASELINE)).isEqualTo("image/jpeg");
		assertThat(WadoService.compressedMediaType("1.2.840.10008.1.2.4.80")).isEqualTo("image/jls");
		assertThat(WadoService.compressedMediaType("1.2.840.10008.1.2.4.90")).isEqualTo("image/jp2");
		assertThat(WadoService.compressedMediaType("1.2.840.10008.1.2.5")).isEqualTo("image/dicom-rle");
		assertThat(WadoService.compressedMediaType(EXPLICIT_LE)).isNull();
		assertThat(WadoService.compressedMediaType(null)).isNull();
		assertThat(WadoService.servedTs(IMPLICIT_LE)).isEqualTo(EXPLICIT_LE);
		assertThat(WadoService.servedTs(JPEG_BASELINE)).isEqualTo(JPEG_BASELINE);
	}

	@Test
	void mediaRangesAreParsedCaseInsensitively_keepingTheTransferSyntaxAsWritten() {
		List<WadoService.MediaRange> ranges = WadoService.MediaRange.parseAll(
				"Multipart/Related; Type=\"Application/DICOM\"; Transfer-Syntax=\"1.2.3\", image/jpeg;q=0.5");
		assertThat(ranges).hasSize(2);
		assertThat(ranges.get(0).mime()).isEqualTo("multipart/related");
		assertThat(ranges.get(0).type()).isEqualTo("application/dicom");
		assertThat(ranges.get(0).transferSyntax()).isEqualTo("1.2.3");
		assertThat(ranges.get(1).mime()).isEqualTo("image/jpeg");
		assertThat(ranges.get(1).text()).isEqualTo("image/jpeg;q=0.5");
	}
}
