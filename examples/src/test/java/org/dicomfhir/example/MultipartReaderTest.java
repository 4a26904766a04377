package org.dicomfhir.example;

import org.dicomfhir.hapi.dicomweb.DicomWebException;
import org.dicomfhir.hapi.dicomweb.MultipartReader;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The STOW-RS body reader on its own (no server): parts whose content looks like the start of a
 * delimiter, delimiters split across the reader's buffer and across network reads of any size.
 */
class MultipartReaderTest {

	private static final String BOUNDARY = "b0und";

	/** An input that hands out at most a few bytes per read, like a slow network. */
	private static InputStream trickle(byte[] theBytes, long theSeed) {
		Random random = new Random(theSeed);
		return new InputStream() {
			int pos;

			@Override
			public int read() {
				return pos < theBytes.length ? theBytes[pos++] & 0xff : -1;
			}

			@Override
			public int read(byte[] b, int off, int len) {
				if (pos >= theBytes.length) {
					return -1;
				}
				int n = Math.min(Math.min(len, 1 + random.nextInt(70_000)), theBytes.length - pos);
				System.arraycopy(theBytes, pos, b, off, n);
				pos += n;
				return n;
			}
		};
	}

	private static List<byte[]> read(InputStream theIn, long theMax) throws IOException {
		MultipartReader reader = new MultipartReader(theIn, BOUNDARY, theMax, 16 * 1024);
		List<byte[]> out = new ArrayList<>();
		MultipartReader.Part part;
		while ((part = reader.next()) != null) {
			assertThat(part.contentType()).isEqualTo("application/dicom");
			out.add(part.body());
		}
		return out;
	}

	@Test
	void partsComeBackByteForByteWhateverTheReadSizes() throws IOException {
		Random random = new Random(7);
		List<byte[]> parts = new ArrayList<>();
		byte[] nearMiss = ("\r\n--" + BOUNDARY.substring(0, 4)).getBytes(StandardCharsets.US_ASCII);
		for (int i = 0; i < 12; i++) {
			byte[] part = new byte[random.nextInt(200_000)];
			random.nextBytes(part);
			// sprinkle CRs, CRLFs and near-delimiters ("\r\n--b0un") through the content
			for (int k = 0; k + nearMiss.length < part.length; k += 1 + random.nextInt(5_000)) {
				int n = 1 + random.nextInt(nearMiss.length);
				System.arraycopy(nearMiss, 0, part, k, n);
				part[k + n] = 'x'; // never completed into a real delimiter
			}
			parts.add(part);
		}
		parts.add(new byte[0]);
		parts.add("\r\n--".getBytes(StandardCharsets.US_ASCII));
		byte[] body = AbstractServerTest.multipartBody(BOUNDARY, parts);
		for (long seed = 0; seed < 5; seed++) {
			List<byte[]> got = read(trickle(body, seed), Long.MAX_VALUE);
			assertThat(got).hasSize(parts.size());
			for (int i = 0; i < parts.size(); i++) {
				assertThat(got.get(i)).as("part %d, seed %d", i, seed).isEqualTo(parts.get(i));
			}
		}
	}

	@Test
	void aPartOverTheLimitIs413AndABodyWithoutCloseDelimiterIs400() {
		byte[] body = AbstractServerTest.multipartBody(BOUNDARY, List.of(new byte[5_000]));
		assertThatThrownBy(() -> read(trickle(body, 1), 4_999))
				.isInstanceOfSatisfying(DicomWebException.class, e -> assertThat(e.status()).isEqualTo(413));
		byte[] cut = java.util.Arrays.copyOf(body, body.length - 12);
		assertThatThrownBy(() -> read(trickle(cut, 1), Long.MAX_VALUE))
				.isInstanceOfSatisfying(DicomWebException.class, e -> assertThat(e.status()).isEqualTo(400));
	}
}
