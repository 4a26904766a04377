package org.dicomfhir.example;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Real DICOM files from the test corpus (scripts/fetch-test-data.sh), and distinct instances made
 * from them by swapping UIDs for new ones of the same length (lengths unchanged, so the file stays
 * valid without re-encoding it).
 */
final class DicomFixtures {

	static final String CT_SMALL_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
	static final String CT_SMALL_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";
	static final String CT_SMALL_SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
	/** emri_small and emri_small_jpeg_2k_lossless (pydicom-data): the same 10-frame MR instance, native and J2K. */
	static final String EMRI_STUDY = "1.2.826.0.1.3680043.2.1143.3365540476747857567072393009509418480";
	static final String EMRI_SERIES = "1.2.826.0.1.3680043.2.1143.3712364435022872412969836992152438492";
	static final String EMRI_SOP = "1.2.826.0.1.3680043.2.1143.6455556726214900995651753669640998622";

	private static final AtomicLong ourCounter = new AtomicLong();
	/** Makes the UIDs of one test JVM differ from those of any earlier run on the same database. */
	private static final long RUN = System.currentTimeMillis();

	private DicomFixtures() {}

	static Path corpus() {
		Path dir = Paths.get("").toAbsolutePath();
		while (dir != null && !Files.isDirectory(dir.resolve(".data/pydicom"))) {
			dir = dir.getParent();
		}
		if (dir == null) {
			throw new IllegalStateException("test corpus missing: run scripts/fetch-test-data.sh");
		}
		return dir.resolve(".data");
	}

	static byte[] read(String theRelativePath) {
		try {
			return Files.readAllBytes(corpus().resolve(theRelativePath));
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	static byte[] ctSmall() {
		return read("pydicom/CT_small.dcm");
	}

	/** A fresh, valid UID of exactly {@code theLength} characters ("2.25." + digits). */
	static String newUid(int theLength) {
		String digits = Long.toString(RUN) + String.format("%06d", ourCounter.incrementAndGet());
		StringBuilder uid = new StringBuilder("2.25.1");
		while (uid.length() + digits.length() < theLength) {
			uid.append('0');
		}
		uid.append(digits);
		if (uid.length() != theLength) {
			throw new IllegalArgumentException("cannot make a UID of length " + theLength);
		}
		return uid.toString();
	}

	/** Replaces every occurrence of each key (ASCII) by its value, which must have the same length. */
	static byte[] replace(byte[] theTemplate, Map<String, String> theReplacements) {
		byte[] out = theTemplate.clone();
		for (Map.Entry<String, String> entry : theReplacements.entrySet()) {
			byte[] from = entry.getKey().getBytes(StandardCharsets.US_ASCII);
			byte[] to = entry.getValue().getBytes(StandardCharsets.US_ASCII);
			if (from.length != to.length) {
				throw new IllegalArgumentException(entry + ": lengths differ");
			}
			int found = 0;
			for (int i = 0; i + from.length <= out.length; i++) {
				if (regionEquals(out, i, from)) {
					System.arraycopy(to, 0, out, i, to.length);
					found++;
				}
			}
			if (found == 0) {
				throw new IllegalArgumentException(entry.getKey() + " not found");
			}
		}
		return out;
	}

	/** A new study with one new series, in which {@link #instance()} makes CT_small instances. */
	record NewSeries(String study, String series) {
		NewSeries() {
			this(newStudyUid(), newSeriesUid());
		}

		/** CT_small as a new instance of this series. */
		byte[] instance() {
			return ctInstance(study, series);
		}
	}

	/** CT_small as a new instance of the given study and series, with a new SOP Instance UID. */
	static byte[] ctInstance(String theStudyUid, String theSeriesUid) {
		return ctInstance(theStudyUid, theSeriesUid, newSopUid());
	}

	/** CT_small as the given instance (UIDs of the lengths of CT_small's: {@link #newStudyUid()} ...). */
	static byte[] ctInstance(String theStudyUid, String theSeriesUid, String theSopUid) {
		return replace(ctSmall(), Map.of(
				CT_SMALL_STUDY, theStudyUid,
				CT_SMALL_SERIES, theSeriesUid,
				CT_SMALL_SOP, theSopUid));
	}

	static String newStudyUid() {
		return newUid(CT_SMALL_STUDY.length());
	}

	static String newSeriesUid() {
		return newUid(CT_SMALL_SERIES.length());
	}

	static String newSopUid() {
		return newUid(CT_SMALL_SOP.length());
	}

	static String sha256(byte[] theBytes) {
		try {
			return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(theBytes));
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException(e);
		}
	}

	private static boolean regionEquals(byte[] theData, int theOffset, byte[] thePattern) {
		for (int j = 0; j < thePattern.length; j++) {
			if (theData[theOffset + j] != thePattern[j]) {
				return false;
			}
		}
		return true;
	}
}
