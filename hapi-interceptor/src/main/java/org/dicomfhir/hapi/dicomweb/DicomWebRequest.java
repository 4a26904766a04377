package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * One DICOMweb request: HAPI's request details (passed to every DAO call), the servlet request
 * and response, and the service base URL as the client sees it ({@code http://host/fhir/dicomweb}).
 */
public record DicomWebRequest(
		ServletRequestDetails details, HttpServletRequest servletRequest, HttpServletResponse servletResponse, String serviceBase) {

	String header(String theName) {
		return servletRequest.getHeader(theName);
	}

	String studyUrl(String theStudyUid) {
		return serviceBase + "/studies/" + theStudyUid;
	}

	String instanceUrl(StudyStore.InstanceRef theRef) {
		return studyUrl(theRef.studyUid()) + "/series/" + theRef.seriesUid() + "/instances/" + theRef.sopInstanceUid();
	}

	/** A {@code Warning: 299} header value (PS3.18 §8.3.4 and RFC 7234 warn-code 299). */
	String warning(String theText) {
		return "299 " + serviceBase + ": \"" + theText.replace("\"", "'") + "\"";
	}
}
