package org.dicomfhir.hapi.dicomweb;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * A {@code multipart/related} answer written part by part (PS3.18 §8.6.1.2, RFC 2387): one random
 * boundary, each part's head (Content-Type, Content-Location, Content-Length when known), CRLF
 * framing and the closing delimiter. The parts' bodies are written by the caller, so retrieve
 * streams stored instances without holding them.
 */
final class MultipartWriter {

	/** A part's body, written straight to the answer. */
	@FunctionalInterface
	interface Body {
		void writeTo(OutputStream theOut) throws IOException;
	}

	private final String myType;
	private final String myBoundary = "dicomfhir-" + UUID.randomUUID();

	/** @param theType the {@code type} parameter of the whole answer (the parts' media type without parameters) */
	MultipartWriter(String theType) {
		myType = theType;
	}

	/** The answer's Content-Type header. */
	String contentType() {
		return "multipart/related; type=\"" + myType + "\"; boundary=" + myBoundary;
	}

	/** One part: its head, then its body, then the CRLF that ends it; theLength null leaves Content-Length out. */
	void part(OutputStream theOut, String theContentType, String theLocation, Long theLength, Body theBody) throws IOException {
		StringBuilder head = new StringBuilder("--").append(myBoundary).append("\r\n")
				.append("Content-Type: ").append(theContentType).append("\r\n")
				.append("Content-Location: ").append(theLocation).append("\r\n");
		if (theLength != null) {
			head.append("Content-Length: ").append(theLength).append("\r\n");
		}
		theOut.write(head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
		theBody.writeTo(theOut);
		theOut.write(CRLF);
	}

	/** The closing delimiter, after the last part. */
	void close(OutputStream theOut) throws IOException {
		theOut.write(("--" + myBoundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
	}

	private static final byte[] CRLF = "\r\n".getBytes(StandardCharsets.US_ASCII);
}
