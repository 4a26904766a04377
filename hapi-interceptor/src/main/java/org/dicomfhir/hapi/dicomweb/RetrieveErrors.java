package org.dicomfhir.hapi.dicomweb;

import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomLimitException;

import java.io.IOException;
import java.util.List;

/**
 * The answers of a WADO-RS retrieve when an instance cannot be served: its stored bytes are
 * missing (404), it is beyond the inflation limit (422), or the core refuses to transcode it
 * (406/413/400). One wording for instances, frames and bulk data.
 */
final class RetrieveErrors {

	private static final org.slf4j.Logger ourLog = org.slf4j.LoggerFactory.getLogger(RetrieveErrors.class);
	/** How many SOP Instance UIDs a message names before it says "and N more". */
	private static final int LISTED_UIDS = 10;

	private RetrieveErrors() {
	}

	/** The SOP Instance UIDs of the instances, at most ten of them named. */
	static String uidList(List<StudyStore.InstanceRef> theRefs) {
		StringBuilder out = new StringBuilder();
		for (int i = 0; i < theRefs.size() && i < LISTED_UIDS; i++) {
			out.append(i == 0 ? "" : ", ").append(theRefs.get(i).sopInstanceUid());
		}
		if (theRefs.size() > LISTED_UIDS) {
			out.append(" and ").append(theRefs.size() - LISTED_UIDS).append(" more");
		}
		return out.toString();
	}

	/** 404 for instances listed in their study whose stored bytes are missing. */
	static DicomWebException missingBytes(List<StudyStore.InstanceRef> theMissing) {
		if (theMissing.size() == 1) {
			StudyStore.InstanceRef ref = theMissing.get(0);
			return DicomWebException.notFound("Instance " + ref.sopInstanceUid() + " is listed in its study but its stored bytes (Binary/"
					+ ref.binaryId() + ") are missing; DELETE it to remove the entry, or store the instance again");
		}
		return DicomWebException.notFound("The stored bytes of all " + theMissing.size() + " instances asked for are missing: "
				+ uidList(theMissing) + "; DELETE them to remove the entries, or store the instances again");
	}

	/** A deflated data set beyond {@code dicomfhir.dicomweb.max-inflated-bytes}: 422, not a server error. */
	static DicomWebException tooLarge(DicomLimitException theError, StudyStore.InstanceRef theRef, long theMax) {
		ourLog.warn("DICOMweb: instance {} (Binary/{}) cannot be served within the limits: {}", theRef.sopInstanceUid(), theRef.binaryId(),
				theError.getMessage());
		return new DicomWebException(422, "Instance " + theRef.sopInstanceUid() + " cannot be served: " + theError.getMessage()
				+ " (dicomfhir.dicomweb.max-inflated-bytes = " + theMax + "); retrieve the whole instance instead");
	}

	interface Transcoding<T> {
		T call() throws IOException;
	}

	/** Runs a transcoding step of the core; what it refuses becomes the request's status. */
	static <T> T refusal(StudyStore.InstanceRef theRef, long theMax, Transcoding<T> theCall) throws IOException {
		try {
			return theCall.call();
		} catch (DicomException e) {
			String what = "Instance " + theRef.sopInstanceUid() + " (stored as " + theRef.transferSyntaxUid()
					+ ") cannot be provided in Explicit VR Little Endian: " + e.getMessage();
			switch (e.kind()) {
				case UNSUPPORTED -> throw DicomWebException.notAcceptable(what + "; ask for transfer-syntax=* to receive it as stored");
				case LIMIT_EXCEEDED -> throw new DicomWebException(413, what + " (dicomfhir.dicomweb.max-inflated-bytes = " + theMax
						+ "); ask for transfer-syntax=* to receive it as stored");
				case INVALID_INPUT -> throw DicomWebException.badRequest(what);
				default -> throw e;
			}
		}
	}
}
