package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * One line per DICOMweb request on the logger {@value #LOGGER}: method, path, the names of the
 * query parameters (never their values: {@code PatientName=…}, {@code PatientID=…} are PHI), status
 * and milliseconds. HAPI's LoggingInterceptor never sees these requests (the facade answers them
 * before HAPI selects a FHIR operation), so without this line they are missing from the access log.
 */
final class DicomWebAccessLog {

	static final String LOGGER = "dicomfhir.dicomweb.access";

	private static final Logger ourLog = LoggerFactory.getLogger(LOGGER);

	private DicomWebAccessLog() {
	}

	static void log(HttpServletRequest theRequest, HttpServletResponse theResponse, long theStartNanos) {
		if (!ourLog.isInfoEnabled()) {
			return;
		}
		long millis = (System.nanoTime() - theStartNanos) / 1_000_000;
		// names from the query string itself: getParameterNames() would read a form body
		List<String> names = new ArrayList<>();
		String query = theRequest.getQueryString();
		for (String pair : query == null ? new String[0] : query.split("&")) {
			String name = pair.contains("=") ? pair.substring(0, pair.indexOf('=')) : pair;
			if (!name.isEmpty()) {
				names.add(name.replaceAll("[^A-Za-z0-9_.%-]", "?"));
			}
		}
		ourLog.info("{} {}{} -> {} {}ms", theRequest.getMethod(), theRequest.getRequestURI(),
				names.isEmpty() ? "" : "?" + String.join("&", names), theResponse.getStatus(), millis);
	}
}
