package org.dicomfhir.hapi.dicomweb;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The DICOM JSON (WADO-RS metadata) of stored instances, keyed by Binary id and instance URL, in
 * a least-recently-used map bounded by the total length of the kept text. The Binary id is the
 * SHA-256 of the bytes, so an entry is never stale; the URL is part of the key because the
 * BulkDataURIs in the JSON are below it. A viewer opening a series asks for its metadata again
 * and again (often without If-None-Match): a hit skips reading and parsing the file.
 */
final class DicomJsonCache {

	/** Computes the DICOM JSON on a miss. */
	interface Source {
		String dicomJson() throws IOException;
	}

	private final long myMaxChars;
	private long myChars;
	private final LinkedHashMap<String, String> myEntries = new LinkedHashMap<>(1024, 0.75f, true);

	DicomJsonCache(long theMaxChars) {
		myMaxChars = Math.max(0, theMaxChars);
	}

	String get(String theBinaryId, String theInstanceUrl, Source theSource) throws IOException {
		String key = theBinaryId + ' ' + theInstanceUrl;
		synchronized (this) {
			String hit = myEntries.get(key);
			if (hit != null) {
				return hit;
			}
		}
		String json = theSource.dicomJson();
		if (json.length() <= myMaxChars / 16) { // one instance never takes more than a sixteenth
			synchronized (this) {
				String old = myEntries.put(key, json);
				myChars += json.length() - (old == null ? 0 : old.length());
				var it = myEntries.entrySet().iterator();
				while (myChars > myMaxChars && it.hasNext()) {
					Map.Entry<String, String> eldest = it.next();
					myChars -= eldest.getValue().length();
					it.remove();
				}
			}
		}
		return json;
	}

	synchronized int size() {
		return myEntries.size();
	}

	synchronized void clear() {
		myEntries.clear();
		myChars = 0;
	}
}
