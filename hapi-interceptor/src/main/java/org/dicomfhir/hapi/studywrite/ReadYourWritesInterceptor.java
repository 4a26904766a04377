package org.dicomfhir.hapi.studywrite;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import jakarta.servlet.http.HttpServletRequest;
import org.dicomfhir.hapi.config.DicomFhirProperties;

/**
 * The read barrier of deferred study writes: every request that could observe an ImagingStudy
 * (FHIR reads, searches, includes, transactions, the DICOMweb facade) first waits until the study
 * writes of uploads answered before it arrived are done. Requests that only store or fetch
 * Binaries, and STOW-RS, do not wait: they must not be slowed by the writes they feed.
 *
 * <p>Registered on the RestfulServer at the earliest request pointcut, ahead of the DICOMweb facade.
 */
@Interceptor
public class ReadYourWritesInterceptor {

	private final StudyWriteHandoff myHandoff;
	private final String myStowPath;

	public ReadYourWritesInterceptor(StudyWriteHandoff theHandoff, DicomFhirProperties theProperties) {
		myHandoff = theHandoff;
		String path = theProperties.getDicomwebPath().replaceAll("^/+|/+$", "");
		myStowPath = "/" + path + "/studies";
	}

	@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED, order = -2000)
	public boolean awaitStudyWrites(HttpServletRequest theRequest) {
		if (!feedsStudyWrites(theRequest)) {
			myHandoff.awaitStudyWrites();
		}
		return true;
	}

	private boolean feedsStudyWrites(HttpServletRequest theRequest) {
		String path = theRequest.getPathInfo();
		if (path == null) {
			return false;
		}
		if (path.equals("/Binary") || path.startsWith("/Binary/") || path.startsWith("/Binary?")) {
			return true;
		}
		return "POST".equals(theRequest.getMethod()) && path.startsWith(myStowPath);
	}
}
