package org.dicomfhir.hapi.dicomweb;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One media range of an Accept header, with the two parameters DICOMweb negotiates on: the
 * multipart {@code type} and the {@code transfer-syntax} (kept as written; names are lower-cased).
 */
record MediaRange(String text, String mime, String type, String transferSyntax) {

	static List<MediaRange> parseAll(String theAccept) {
		List<MediaRange> out = new ArrayList<>();
		for (String range : splitOutsideQuotes(theAccept, ',')) {
			List<String> parts = splitOutsideQuotes(range, ';');
			String type = null;
			String ts = null;
			for (String p : parts.subList(1, parts.size())) {
				int eq = p.indexOf('=');
				if (eq < 0) {
					continue;
				}
				String k = p.substring(0, eq).trim().toLowerCase(Locale.ROOT);
				String v = p.substring(eq + 1).trim().replace("\"", "");
				if ("type".equals(k)) {
					type = v.toLowerCase(Locale.ROOT);
				} else if ("transfer-syntax".equals(k)) {
					ts = v;
				}
			}
			out.add(new MediaRange(range.trim(), parts.get(0).trim().toLowerCase(Locale.ROOT), type, ts));
		}
		return out;
	}

	/** Splits a header value at a separator that is not inside double quotes (a quoted type may hold one). */
	static List<String> splitOutsideQuotes(String theValue, char theSeparator) {
		List<String> out = new ArrayList<>();
		StringBuilder cur = new StringBuilder();
		boolean quoted = false;
		for (char c : theValue.toCharArray()) {
			if (c == '"') {
				quoted = !quoted;
			}
			if (c == theSeparator && !quoted) {
				out.add(cur.toString());
				cur.setLength(0);
			} else {
				cur.append(c);
			}
		}
		out.add(cur.toString());
		return out;
	}
}
