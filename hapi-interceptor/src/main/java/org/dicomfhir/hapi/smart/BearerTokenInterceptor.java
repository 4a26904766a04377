package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Every request on the FHIR servlet, FHIR and DICOMweb paths alike, needs a valid bearer token,
 * except {@code GET [base]/metadata}, {@code GET [base]/.well-known/smart-configuration} and CORS
 * preflights. Runs first at SERVER_INCOMING_REQUEST_PRE_PROCESSED (before the DICOMweb facade,
 * which answers its requests there, and before any body is read). Without a token: 401 with
 * {@code WWW-Authenticate: Bearer realm="dicom-fhir"}; with a bad one: the same plus
 * {@code error="invalid_token"} (RFC 6750). A valid token is kept on the servlet request
 * ({@link SmartToken#of}).
 */
@Interceptor
public class BearerTokenInterceptor {

	/** Before the DICOMweb facade and the request size limit (order 0). */
	static final int ORDER = -1000;
	static final String REALM = "dicom-fhir";

	private static final Logger ourLog = LoggerFactory.getLogger(BearerTokenInterceptor.class);

	private final TokenValidator myValidator;
	private final SmartCors myCors;

	public BearerTokenInterceptor(TokenValidator theValidator, SmartCors theCors) {
		myValidator = theValidator;
		myCors = theCors;
	}

	@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED, order = ORDER)
	public boolean requireToken(HttpServletRequest theRequest, HttpServletResponse theResponse) throws IOException {
		if (exempt(theRequest)) {
			return true;
		}
		String header = theRequest.getHeader("Authorization");
		if (header == null || header.isBlank()) {
			return refuse(theRequest, theResponse, 401, "Bearer realm=\"" + REALM + "\"", "A bearer token is required");
		}
		if (!header.regionMatches(true, 0, "Bearer ", 0, 7) || header.substring(7).isBlank()) {
			return refuse(theRequest, theResponse, 401, challenge("The Authorization header is not a bearer token"),
					"The Authorization header is not a bearer token");
		}
		try {
			theRequest.setAttribute(SmartToken.ATTRIBUTE, myValidator.validate(header.substring(7).trim()));
			return true;
		} catch (TokenValidator.InvalidToken e) {
			return refuse(theRequest, theResponse, 401, challenge(e.getMessage()), e.getMessage());
		} catch (TokenValidator.IssuerUnavailable e) {
			ourLog.error("{}", e.getMessage());
			return refuse(theRequest, theResponse, 503, null, "The token issuer cannot be reached; retry later");
		}
	}

	/** metadata, the SMART discovery document and CORS preflights are public. */
	static boolean exempt(HttpServletRequest theRequest) {
		String method = theRequest.getMethod();
		if ("OPTIONS".equals(method) && theRequest.getHeader("Origin") != null
				&& theRequest.getHeader("Access-Control-Request-Method") != null) {
			return true;
		}
		String path = theRequest.getPathInfo();
		return "GET".equals(method) && path != null
				&& (path.equals("/metadata") || path.equals(SmartDiscovery.PATH));
	}

	private static String challenge(String theDescription) {
		// the description is ours (TokenValidator's fixed texts), never the token's: quote-safe
		return "Bearer realm=\"" + REALM + "\", error=\"invalid_token\", error_description=\"" + theDescription.replace("\"", "'") + "\"";
	}

	private boolean refuse(HttpServletRequest theRequest, HttpServletResponse theResponse, int theStatus, String theChallenge,
			String theMessage) throws IOException {
		cors(theRequest, theResponse);
		if (theChallenge != null) {
			theResponse.setHeader("WWW-Authenticate", theChallenge);
		}
		theResponse.setStatus(theStatus);
		theResponse.setContentType("application/fhir+json;charset=utf-8");
		String code = theStatus == 401 ? "login" : "transient";
		byte[] body = ("{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"" + code
				+ "\",\"diagnostics\":\"" + theMessage.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}]}\n")
				.getBytes(StandardCharsets.UTF_8);
		theResponse.setContentLength(body.length);
		try (OutputStream out = theResponse.getOutputStream()) {
			out.write(body);
		}
		return false;
	}

	/** The facade's CORS headers for an allowed Origin, so a browser app can read the 401. */
	private void cors(HttpServletRequest theRequest, HttpServletResponse theResponse) {
		String origin = theRequest.getHeader("Origin");
		List<String> allowed = myCors.allowedOrigins();
		if (origin == null || allowed == null
				|| allowed.stream().noneMatch(a -> "*".equals(a.trim()) || a.trim().equalsIgnoreCase(origin))) {
			return;
		}
		theResponse.setHeader("Access-Control-Allow-Origin", origin);
		theResponse.addHeader("Vary", "Origin");
		theResponse.setHeader("Access-Control-Allow-Credentials", "true");
		theResponse.setHeader("Access-Control-Expose-Headers", "WWW-Authenticate, Warning, ETag, Content-Location, Content-Type, Content-Length");
	}
}
