package org.dicomfhir.hapi.dicomweb;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Streaming reader of a {@code multipart/related} body (RFC 2046 §5.1, RFC 2387): one part at a
 * time, each bounded in size, so a request of any length never sits whole in memory; a part
 * above the spool threshold goes to a temporary file as it is read ({@link Spool}). Delimiters
 * are found with Knuth-Morris-Pratt, so partial matches across buffer ends are handled.
 */
public class MultipartReader {

	/** One body part: its headers (lower-case names) and content (in memory, or spooled to a file). */
	public record Part(Map<String, String> headers, Spool.Body content) {
		public String contentType() {
			return headers.get("content-type");
		}

		/** The content when it is in memory; null when it was spooled to a file. */
		public byte[] body() {
			return content.bytes();
		}
	}

	private final InputStream myIn;
	// Our own buffer: a byte at a time through BufferedInputStream (synchronized) was 10% of a STOW.
	private final byte[] myBuf = new byte[64 * 1024];
	private int myPos;
	private int myLimit;
	private final byte[] myDelimiter; // CRLF "--" boundary
	private final int[] myFailure;
	private final Spool mySpool;
	private final int myMaxHeaderBytes;
	private boolean myStarted;
	private boolean myDone;

	/** Every part in memory, at most theMaxPartBytes each. */
	public MultipartReader(InputStream theIn, String theBoundary, long theMaxPartBytes, int theMaxHeaderBytes) {
		this(theIn, theBoundary, new Spool(null, false, Long.MAX_VALUE, theMaxPartBytes, 0, Long.MAX_VALUE), theMaxHeaderBytes);
	}

	/** Parts above the spool's threshold go to its files. */
	MultipartReader(InputStream theIn, String theBoundary, Spool theSpool, int theMaxHeaderBytes) {
		if (theBoundary == null || theBoundary.isEmpty() || theBoundary.length() > 70) {
			throw DicomWebException.badRequest("multipart boundary must be 1 to 70 characters (RFC 2046)");
		}
		myIn = theIn;
		myDelimiter = ("\r\n--" + theBoundary).getBytes(StandardCharsets.ISO_8859_1);
		myFailure = failure(myDelimiter);
		mySpool = theSpool;
		myMaxHeaderBytes = theMaxHeaderBytes;
	}

	/** The next part, or null after the close delimiter. */
	public Part next() throws IOException {
		if (myDone) {
			return null;
		}
		if (!myStarted) {
			myStarted = true;
			// The preamble: the first delimiter may come without its leading CRLF.
			skipTo(true);
		}
		if (myDone) {
			return null;
		}
		Map<String, String> headers = readHeaders();
		Spool.Sink body = mySpool.newSink();
		if (!scan(body)) {
			throw DicomWebException.badRequest("multipart body ends without its close delimiter (--boundary--)");
		}
		Spool.Body content = body.finish();
		afterDelimiter();
		return new Part(headers, content);
	}

	private void skipTo(boolean theFirst) throws IOException {
		// Treat the body as if it began with CRLF, so "--boundary" on the first line is found.
		int matched = theFirst ? 2 : 0;
		int b;
		while ((b = read()) >= 0) {
			matched = step(matched, (byte) b);
			if (matched == myDelimiter.length) {
				afterDelimiter();
				return;
			}
		}
		throw DicomWebException.badRequest("multipart body holds no part delimited by its boundary");
	}

	/** After a delimiter: "--" closes the body; else optional whitespace and CRLF start a part. */
	private void afterDelimiter() throws IOException {
		int c1 = read();
		if (c1 == '-') {
			if (read() != '-') {
				throw DicomWebException.badRequest("malformed multipart delimiter");
			}
			myDone = true;
			return;
		}
		int c = c1;
		while (c == ' ' || c == '\t') {
			c = read();
		}
		if (c != '\r' || read() != '\n') {
			throw DicomWebException.badRequest("malformed multipart delimiter line (expected CRLF after the boundary)");
		}
	}

	private Map<String, String> readHeaders() throws IOException {
		Map<String, String> headers = new LinkedHashMap<>();
		ByteArrayOutputStream line = new ByteArrayOutputStream();
		int total = 0;
		String last = null;
		while (true) {
			int b = read();
			if (b < 0) {
				throw DicomWebException.badRequest("multipart part headers are truncated");
			}
			if (++total > myMaxHeaderBytes) {
				throw new DicomWebException(413, "multipart part headers exceed " + myMaxHeaderBytes + " bytes");
			}
			if (b != '\n') {
				line.write(b);
				continue;
			}
			String text = line.toString(StandardCharsets.ISO_8859_1);
			line.reset();
			if (text.endsWith("\r")) {
				text = text.substring(0, text.length() - 1);
			}
			if (text.isEmpty()) {
				return headers;
			}
			if ((text.startsWith(" ") || text.startsWith("\t")) && last != null) {
				headers.put(last, headers.get(last) + " " + text.trim()); // folded header line
				continue;
			}
			int colon = text.indexOf(':');
			if (colon <= 0) {
				throw DicomWebException.badRequest("malformed multipart part header: " + text);
			}
			last = text.substring(0, colon).trim().toLowerCase(Locale.ROOT);
			headers.put(last, text.substring(colon + 1).trim());
		}
	}

	private int read() throws IOException {
		if (myPos == myLimit && !fill()) {
			return -1;
		}
		return myBuf[myPos++] & 0xff;
	}

	private boolean fill() throws IOException {
		int n;
		do {
			n = myIn.read(myBuf, 0, myBuf.length);
		} while (n == 0);
		if (n < 0) {
			return false;
		}
		myPos = 0;
		myLimit = n;
		return true;
	}

	/** Copies bytes up to the next delimiter into theOut; false when the input ends first. */
	private boolean scan(Spool.Sink theOut) throws IOException {
		int matched = 0;
		byte first = myDelimiter[0];
		while (true) {
			if (myPos == myLimit && !fill()) {
				return false;
			}
			if (matched == 0) {
				// Outside a partial match, every byte up to the next CR is content: copy the run at once.
				int start = myPos;
				int end = start;
				while (end < myLimit && myBuf[end] != first) {
					end++;
				}
				if (end > start) {
					theOut.write(myBuf, start, end - start);
					myPos = end;
					continue;
				}
			}
			byte b = myBuf[myPos++];
			int before = matched;
			matched = step(matched, b);
			if (matched == myDelimiter.length) {
				return true;
			}
			// Bytes that were part of a partial match and no longer are: emit them (the first
			// `released` bytes of the old partial match, then b).
			int released = before + 1 - matched;
			for (int i = 0; i < released; i++) {
				theOut.write(i < before ? myDelimiter[i] : b);
			}
		}
	}

	private int step(int theMatched, byte theByte) {
		int m = theMatched;
		while (m > 0 && myDelimiter[m] != theByte) {
			m = myFailure[m - 1];
		}
		if (myDelimiter[m] == theByte) {
			m++;
		}
		return m;
	}

	private static int[] failure(byte[] thePattern) {
		int[] f = new int[thePattern.length];
		int k = 0;
		for (int i = 1; i < thePattern.length; i++) {
			while (k > 0 && thePattern[i] != thePattern[k]) {
				k = f[k - 1];
			}
			if (thePattern[i] == thePattern[k]) {
				k++;
			}
			f[i] = k;
		}
		return f;
	}

	/** A parameter of a Content-Type header value (quotes removed), or null. */
	public static String parameter(String theContentType, String theName) {
		if (theContentType == null) {
			return null;
		}
		for (String p : MediaRange.splitOutsideQuotes(theContentType, ';')) {
			int eq = p.indexOf('=');
			if (eq > 0 && p.substring(0, eq).trim().equalsIgnoreCase(theName)) {
				String v = p.substring(eq + 1).trim();
				if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
					v = v.substring(1, v.length() - 1);
				}
				return v;
			}
		}
		return null;
	}

	/** The media type of a Content-Type value, lower case, without parameters. */
	public static String mediaType(String theContentType) {
		return theContentType == null ? "" : theContentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
	}
}
