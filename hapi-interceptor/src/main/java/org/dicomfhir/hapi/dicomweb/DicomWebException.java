package org.dicomfhir.hapi.dicomweb;

/** A DICOMweb request that cannot be answered: HTTP status + a message for the client. */
public class DicomWebException extends RuntimeException {

	private final int myStatus;

	public DicomWebException(int theStatus, String theMessage) {
		super(theMessage);
		myStatus = theStatus;
	}

	public int status() {
		return myStatus;
	}

	static DicomWebException badRequest(String theMessage) {
		return new DicomWebException(400, theMessage);
	}

	static DicomWebException notFound(String theMessage) {
		return new DicomWebException(404, theMessage);
	}

	static DicomWebException notAcceptable(String theMessage) {
		return new DicomWebException(406, theMessage);
	}
}
