package org.dicomfhir.hapi.dicomweb;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** WADO-RS Accept negotiation (PS3.18 §8.7): pure functions of the Accept header and what is stored. */
class AcceptNegotiationTest {

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
			AcceptNegotiation.InstanceChoice choice = AcceptNegotiation.instances(accept, false);
			assertThat(choice.multipart()).as(String.valueOf(accept)).isTrue();
			assertThat(choice.transferSyntax()).isNull();
		}
	}

	@Test
	void instancesAsMultipartRelatedApplicationDicom_keepTheRequestedTransferSyntax() {
		AcceptNegotiation.InstanceChoice choice = AcceptNegotiation.instances(
				"multipart/related; type=\"application/dicom\"; transfer-syntax=" + EXPLICIT_LE, false);
		assertThat(choice.multipart()).isTrue();
		assertThat(choice.transferSyntax()).isEqualTo(EXPLICIT_LE);

		assertThat(AcceptNegotiation.instances("Multipart/Related", false).multipart()).as("type defaults to application/dicom").isTrue();
		assertThat(AcceptNegotiation.instances("multipart/related; type=\"application/dicom\"; transfer-syntax=*", false).transferSyntax())
				.isEqualTo(AcceptNegotiation.ANY_TS);
	}

	@Test
	void singlePartApplicationDicomOnlyForOneInstance() {
		AcceptNegotiation.InstanceChoice single = AcceptNegotiation.instances("application/dicom", true);
		assertThat(single.multipart()).isFalse();

		assertNotAcceptable(() -> AcceptNegotiation.instances("application/dicom", false), "single part: only for one instance");
	}

	@Test
	void theFirstAcceptableRangeWins_andQuotedCommasDoNotSplitRanges() {
		assertThat(AcceptNegotiation.instances("image/png, application/dicom", true).multipart()).isFalse();
		assertThat(AcceptNegotiation.instances("application/dicom, multipart/related; type=\"application/dicom\"", true).multipart()).isFalse();
		assertThat(AcceptNegotiation.instances("multipart/related; type=\"application/dicom,x\", application/dicom", true).multipart())
				.as("the first range's type is 'application/dicom,x': refused, then application/dicom").isFalse();
	}

	@Test
	void nothingAcceptableIs406NamingWhatWasRefused() {
		assertNotAcceptable(() -> AcceptNegotiation.instances("image/png, multipart/related; type=\"image/jpeg\"", true), "image/png");
	}

	// ------------------------------------------------------------------ frames and bulk data

	@Test
	void bulkWithoutAcceptIsMultipartOctetStream() {
		AcceptNegotiation.BulkChoice choice = AcceptNegotiation.bulk(null, JPEG_BASELINE, true);
		assertThat(choice).isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", null));
		assertThat(AcceptNegotiation.bulk("*/*", JPEG_BASELINE, false)).isEqualTo(choice);
	}

	@Test
	void compressedFramesInTheirOwnMediaType_orAsImageWildcard() {
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"image/jpeg\"", JPEG_BASELINE, false))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "image/jpeg", null));
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"image/*\"; transfer-syntax=*", JPEG_BASELINE, false))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "image/jpeg", "*"));
		assertThat(AcceptNegotiation.bulk("image/jpeg", JPEG_BASELINE, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(false, "image/jpeg", null));
	}

	@Test
	void bulkDataIsNotDecoded_butNativePixelDataSatisfiesExplicitLittleEndian() {
		assertNotAcceptable(() -> AcceptNegotiation.bulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, JPEG_BASELINE, false),
				"bulk data is served as stored");
		assertThat(AcceptNegotiation.bulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, IMPLICIT_LE, false))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", EXPLICIT_LE));
	}

	@Test
	void compressedFramesAreDecodedForExplicitLittleEndianOrAnOctetStreamWithoutTransferSyntax() {
		AcceptNegotiation.BulkChoice decoded = new AcceptNegotiation.BulkChoice(true, "application/octet-stream", EXPLICIT_LE, true);
		assertThat(AcceptNegotiation.bulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=" + EXPLICIT_LE, JPEG_BASELINE, false, true))
				.isEqualTo(decoded);
		// PS3.18 §8.7.3: octet-stream without transfer-syntax means Explicit VR Little Endian
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"application/octet-stream\"", JPEG_BASELINE, false, true))
				.isEqualTo(decoded);
		assertThat(AcceptNegotiation.bulk("application/octet-stream", JPEG_BASELINE, true, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(false, "application/octet-stream", EXPLICIT_LE, true));
		// as stored stays as stored: transfer-syntax=*, the stored syntax, its media type, */*, no Accept
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*", JPEG_BASELINE, false, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", "*"));
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"image/jpeg\"", JPEG_BASELINE, false, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "image/jpeg", null));
		assertThat(AcceptNegotiation.bulk("*/*", JPEG_BASELINE, false, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", null));
		assertThat(AcceptNegotiation.bulk(null, JPEG_BASELINE, false, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", null));
		// native frames are never decoded
		assertThat(AcceptNegotiation.bulk("multipart/related; type=\"application/octet-stream\"", IMPLICIT_LE, false, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(true, "application/octet-stream", null));
		// a syntax we cannot produce
		assertNotAcceptable(() -> AcceptNegotiation.bulk(
				"multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.90", JPEG_BASELINE, false, true),
				"decoded to " + EXPLICIT_LE + " only");
	}

	@Test
	void singlePartBulkOnlyWhenThereIsOnePart() {
		assertThat(AcceptNegotiation.bulk("application/octet-stream", EXPLICIT_LE, true))
				.isEqualTo(new AcceptNegotiation.BulkChoice(false, "application/octet-stream", null));
		assertNotAcceptable(() -> AcceptNegotiation.bulk("application/octet-stream", EXPLICIT_LE, false),
				"more than one part to send");
	}

	@Test
	void transferSyntaxMediaTypes() {
		assertThat(AcceptNegotiation.compressedMediaType(JPEG_BASELINE)).isEqualTo("image/jpeg");
		assertThat(AcceptNegotiation.compressedMediaType("1.2.840.10008.1.2.4.80")).isEqualTo("image/jls");
		assertThat(AcceptNegotiation.compressedMediaType("1.2.840.10008.1.2.4.90")).isEqualTo("image/jp2");
		assertThat(AcceptNegotiation.compressedMediaType("1.2.840.10008.1.2.5")).isEqualTo("image/dicom-rle");
		assertThat(AcceptNegotiation.compressedMediaType(EXPLICIT_LE)).isNull();
		assertThat(AcceptNegotiation.compressedMediaType(null)).isNull();
		assertThat(AcceptNegotiation.servedTs(IMPLICIT_LE)).isEqualTo(EXPLICIT_LE);
		assertThat(AcceptNegotiation.servedTs(JPEG_BASELINE)).isEqualTo(JPEG_BASELINE);
	}

	@Test
	void mediaRangesAreParsedCaseInsensitively_keepingTheTransferSyntaxAsWritten() {
		List<MediaRange> ranges = MediaRange.parseAll(
				"Multipart/Related; Type=\"Application/DICOM\"; Transfer-Syntax=\"1.2.3\", image/jpeg;q=0.5");
		assertThat(ranges).hasSize(2);
		assertThat(ranges.get(0).mime()).isEqualTo("multipart/related");
		assertThat(ranges.get(0).type()).isEqualTo("application/dicom");
		assertThat(ranges.get(0).transferSyntax()).isEqualTo("1.2.3");
		assertThat(ranges.get(1).mime()).isEqualTo("image/jpeg");
		assertThat(ranges.get(1).text()).isEqualTo("image/jpeg;q=0.5");
	}
}
