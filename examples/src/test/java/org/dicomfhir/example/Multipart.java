package org.dicomfhir.example;

import org.dicomfhir.hapi.dicomweb.MultipartReader;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The parts of a multipart/related answer of the DICOMweb facade, for tests to compare with what was stored. */
final class Multipart {

	private Multipart() {}

	/** The parts' contents, read with the plugin's own streaming reader (RFC 2046 delimiters). */
	static List<byte[]> parts(HttpResponse<byte[]> theResponse) {
		String ct = theResponse.headers().firstValue("Content-Type").orElseThrow();
		assertThat(ct).startsWith("multipart/related");
		try {
			MultipartReader reader = new MultipartReader(new ByteArrayInputStream(theResponse.body()),
					MultipartReader.parameter(ct, "boundary"), Long.MAX_VALUE, 16 * 1024);
			List<byte[]> out = new ArrayList<>();
			MultipartReader.Part part;
			while ((part = reader.next()) != null) {
				out.add(part.body());
			}
			return out;
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	/**
	 * The parts' contents cut by each part's Content-Length, which must be exact: a delimiter
	 * follows each part right after its CRLF.
	 */
	static List<byte[]> partsByContentLength(HttpResponse<byte[]> theResponse) {
		String ct = theResponse.headers().firstValue("Content-Type").orElseThrow();
		assertThat(ct).startsWith("multipart/related");
		String boundary = ct.replaceAll(".*boundary=\"?([^\";]+)\"?.*", "$1");
		byte[] data = theResponse.body();
		String text = new String(data, StandardCharsets.ISO_8859_1);
		List<byte[]> parts = new ArrayList<>();
		int pos = text.indexOf("--" + boundary + "\r\n");
		while (pos >= 0) {
			int headerEnd = text.indexOf("\r\n\r\n", pos);
			String headers = text.substring(pos, headerEnd);
			int len = Integer.parseInt(headers.replaceAll("(?s).*Content-Length: (\\d+).*", "$1"));
			int start = headerEnd + 4;
			parts.add(Arrays.copyOfRange(data, start, start + len));
			int next = start + len + 2;
			assertThat(text.startsWith("--" + boundary, next)).as("delimiter after a part").isTrue();
			pos = text.startsWith("--" + boundary + "--", next) ? -1 : next;
		}
		return parts;
	}
}
