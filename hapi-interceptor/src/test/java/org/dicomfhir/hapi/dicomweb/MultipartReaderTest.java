package org.dicomfhir.hapi.dicomweb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The STOW-RS body reader's framing rules on small hand-written bodies: headers, preamble and
 * epilogue, transport padding, malformed delimiters and limits, spooling of large parts, and the
 * Content-Type helpers. (examples/.../MultipartReaderTest covers random content and read sizes.)
 */
class MultipartReaderTest {

	private static final int MAX_HEADER_BYTES = 1024;

	private static MultipartReader reader(String theBody, String theBoundary) {
		return new MultipartReader(new ByteArrayInputStream(theBody.getBytes(StandardCharsets.ISO_8859_1)), theBoundary,
				Long.MAX_VALUE, MAX_HEADER_BYTES);
	}

	private static List<MultipartReader.Part> readAll(MultipartReader theReader) throws IOException {
		List<MultipartReader.Part> parts = new ArrayList<>();
		MultipartReader.Part part;
		while ((part = theReader.next()) != null) {
			parts.add(part);
		}
		return parts;
	}

	private static String text(MultipartReader.Part thePart) {
		return new String(thePart.body(), StandardCharsets.ISO_8859_1);
	}

	private static int status(Throwable theError) {
		return ((DicomWebException) theError).status();
	}

	@Test
	void headersAreLowerCasedTrimmedAndUnfolded_preambleAndEpilogueIgnored() throws IOException {
		String body = "This is the preamble.\r\n"
				+ "--xyz\r\n"
				+ "Content-Type:  application/dicom  \r\n"
				+ "X-Long: first\r\n"
				+ "\t second\r\n"
				+ "\r\n"
				+ "one\r\n"
				+ "--xyz\r\n"
				+ "Content-Type: application/dicom\r\n"
				+ "\r\n"
				+ "\r\ntwo\r\n\r\n"
				+ "--xyz--\r\n"
				+ "This is the epilogue, with --xyz in it.";

		List<MultipartReader.Part> parts = readAll(reader(body, "xyz"));

		assertThat(parts).hasSize(2);
		assertThat(parts.get(0).headers()).containsEntry("content-type", "application/dicom").containsEntry("x-long", "first second");
		assertThat(parts.get(0).contentType()).isEqualTo("application/dicom");
		assertThat(text(parts.get(0))).isEqualTo("one");
		assertThat(text(parts.get(1))).as("CRLFs inside the content are content").isEqualTo("\r\ntwo\r\n");
	}

	@Test
	void theFirstDelimiterNeedsNoLeadingCrlf_paddingAfterABoundaryIsAllowed_andAPartMayBeEmpty() throws IOException {
		String body = "--b \t\r\n"
				+ "Content-Type: application/dicom\r\n"
				+ "\r\n"
				+ "\r\n--b\r\n"
				+ "\r\n"
				+ "x\r\n--b--";

		List<MultipartReader.Part> parts = readAll(reader(body, "b"));

		assertThat(parts).hasSize(2);
		assertThat(parts.get(0).body()).isEmpty();
		assertThat(parts.get(1).headers()).isEmpty();
		assertThat(text(parts.get(1))).isEqualTo("x");
	}

	@Test
	void aBodyThatOnlyCloses_yieldsNoPart_andNextStaysNull() throws IOException {
		MultipartReader reader = reader("--b--\r\n", "b");
		assertThat(reader.next()).isNull();
		assertThat(reader.next()).isNull();
	}

	@Test
	void boundariesOutsideRfc2046AreRefused() {
		for (String boundary : new String[] {null, "", "x".repeat(71)}) {
			assertThatThrownBy(() -> reader("--b--", boundary)).isInstanceOfSatisfying(DicomWebException.class,
					e -> assertThat(e.status()).isEqualTo(400));
		}
		assertThat(reader("--b--", "x".repeat(70))).isNotNull();
	}

	@Test
	void malformedBodiesAre400() {
		String[] bodies = {
			"no delimiter at all",
			"--b\r\nContent-Type: application/dicom\r\n\r\ncontent without close delimiter",
			"--b\r\nContent-Type: application/dicom\r\n\r\nx\r\n--b-x",
			"--bX\r\n\r\nx\r\n--b--",
			"--b\r\nno colon here\r\n\r\nx\r\n--b--",
			"--b\r\n: empty name\r\n\r\nx\r\n--b--",
			"--b\r\nContent-Type: application/dicom\r\n",
		};
		for (String body : bodies) {
			assertThatThrownBy(() -> readAll(reader(body, "b"))).as(body)
					.isInstanceOfSatisfying(DicomWebException.class, e -> assertThat(e.status()).isEqualTo(400));
		}
	}

	@Test
	void headersOverTheLimitAre413() {
		String body = "--b\r\nX-Big: " + "y".repeat(MAX_HEADER_BYTES) + "\r\n\r\nx\r\n--b--";
		assertThatThrownBy(() -> readAll(reader(body, "b"))).satisfies(e -> assertThat(status(e)).isEqualTo(413));
	}

	@Test
	void aPartAboveTheSpoolThresholdGoesToAFileWithItsSha256_andCloseDeletesIt(@TempDir Path theDir) throws Exception {
		byte[] big = new byte[10_000];
		for (int i = 0; i < big.length; i++) {
			big[i] = (byte) (i * 31);
		}
		String body = "--b\r\nContent-Type: application/dicom\r\n\r\nsmall\r\n--b\r\nContent-Type: application/dicom\r\n\r\n"
				+ new String(big, StandardCharsets.ISO_8859_1) + "\r\n--b--";
		Path file;
		try (Spool spool = new Spool(theDir.toString(), true, 1_000, 1_000, 1_000_000, Long.MAX_VALUE)) {
			MultipartReader reader = new MultipartReader(new ByteArrayInputStream(body.getBytes(StandardCharsets.ISO_8859_1)), "b",
					spool, MAX_HEADER_BYTES);
			List<MultipartReader.Part> parts = readAll(reader);

			assertThat(parts).hasSize(2);
			assertThat(parts.get(0).content().spooled()).isFalse();
			assertThat(text(parts.get(0))).isEqualTo("small");
			Spool.Body spooled = parts.get(1).content();
			assertThat(spooled.spooled()).isTrue();
			assertThat(parts.get(1).body()).isNull();
			assertThat(spooled.size()).isEqualTo(big.length);
			assertThat(Files.readAllBytes(spooled.file())).isEqualTo(big);
			assertThat(spooled.sha256()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(big)));
			file = spooled.file();
		}
		assertThat(file).doesNotExist();
	}

	@Test
	void spooledPartsHaveTheirOwnLimit(@TempDir Path theDir) {
		String body = "--b\r\n\r\n" + "z".repeat(5_000) + "\r\n--b--";
		try (Spool spool = new Spool(theDir.toString(), true, 1_000, 1_000, 4_999, Long.MAX_VALUE)) {
			MultipartReader reader = new MultipartReader(new ByteArrayInputStream(body.getBytes(StandardCharsets.ISO_8859_1)), "b",
					spool, MAX_HEADER_BYTES);
			assertThatThrownBy(() -> readAll(reader)).satisfies(e -> assertThat(status(e)).isEqualTo(413));
		}
	}

	@Test
	void contentTypeParametersAndMediaType() {
		String contentType = "Multipart/Related; TYPE=\"application/dicom\"; boundary=\"a;b=c\"; start=x";

		assertThat(MultipartReader.mediaType(contentType)).isEqualTo("multipart/related");
		assertThat(MultipartReader.mediaType(null)).isEmpty();
		assertThat(MultipartReader.parameter(contentType, "type")).isEqualTo("application/dicom");
		assertThat(MultipartReader.parameter(contentType, "Boundary")).as("a quoted ';' does not split").isEqualTo("a;b=c");
		assertThat(MultipartReader.parameter(contentType, "start")).isEqualTo("x");
		assertThat(MultipartReader.parameter(contentType, "missing")).isNull();
		assertThat(MultipartReader.parameter(null, "type")).isNull();
	}
}
