package org.dicomfhir.hapi.smart;

import jakarta.servlet.http.HttpServletRequest;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The Patient a patient-context token is about: its {@code patient} claim (a FHIR Patient id), else
 * its {@code patient_identifier} claim ({@code system|value}) resolved now to the one Patient with
 * exactly that identifier, so a token may name a patient whose Patient is only created later by a
 * DICOM upload. Positive resolutions are remembered briefly; a miss is asked again next request.
 */
public class PatientContext {

	private static final String ATTRIBUTE = PatientContext.class.getName();
	private static final String NONE = "";
	private static final Pattern FHIR_ID = Pattern.compile("[A-Za-z0-9\\-.]{1,64}");
	private static final int MAX_CACHED = 10_000;

	private record Cached(String patientId, long expiresAtMillis) {
	}

	private final PatientResolver myResolver;
	private final long myCacheMillis;
	private final Map<String, Cached> myCache = new ConcurrentHashMap<>();

	public PatientContext(PatientResolver theResolver, SmartProperties theProperties) {
		myResolver = theResolver;
		myCacheMillis = theProperties.getPatientCacheSeconds() * 1000L;
	}

	/** The token's Patient id, or null when it names none or names one that cannot be found. Once per servlet request. */
	public String patientId(SmartToken theToken, HttpServletRequest theRequest) {
		Object known = theRequest.getAttribute(ATTRIBUTE);
		if (known instanceof String s) {
			return s.equals(NONE) ? null : s;
		}
		String id = resolve(theToken);
		theRequest.setAttribute(ATTRIBUTE, id == null ? NONE : id);
		return id;
	}

	private String resolve(SmartToken theToken) {
		if (theToken.patientId() != null) {
			return FHIR_ID.matcher(theToken.patientId()).matches() ? theToken.patientId() : null;
		}
		String identifier = theToken.patientIdentifier();
		int bar = identifier == null ? -1 : identifier.indexOf('|');
		if (bar <= 0 || bar == identifier.length() - 1) {
			return null;
		}
		long now = System.currentTimeMillis();
		Cached cached = myCache.get(identifier);
		if (cached != null && cached.expiresAtMillis() > now) {
			return cached.patientId();
		}
		// the first '|' separates: a system is a URI (no '|'), a PatientID may hold one
		Optional<String> found = myResolver.patientWithIdentifier(identifier.substring(0, bar), identifier.substring(bar + 1));
		if (found.isPresent()) {
			if (myCache.size() >= MAX_CACHED) {
				myCache.clear();
			}
			myCache.put(identifier, new Cached(found.get(), now + myCacheMillis));
		}
		return found.orElse(null);
	}
}
