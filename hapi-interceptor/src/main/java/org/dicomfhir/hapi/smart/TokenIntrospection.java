package org.dicomfhir.hapi.smart;

import com.nimbusds.jose.util.JSONObjectUtils;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

/**
 * RFC 7662 introspection of a token that already passed the local checks, when
 * {@code dicomfhir.smart.introspection-uri} is set: catches tokens the issuer revoked before their
 * {@code exp}. This server authenticates with HTTP Basic (its client id and secret). An answer other
 * than 200 with {@code "active": true} refuses the token; an unreachable endpoint is a 503.
 */
class TokenIntrospection {

	private final URI myUri;
	private final String myAuthorization;
	private final HttpClient myHttp = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	TokenIntrospection(SmartProperties theProperties) {
		myUri = URI.create(theProperties.getIntrospectionUri());
		String id = theProperties.getIntrospectionClientId();
		String secret = theProperties.getIntrospectionClientSecret();
		myAuthorization = id == null ? null : "Basic " + Base64.getEncoder().encodeToString(
				(form(id) + ":" + form(secret == null ? "" : secret)).getBytes(StandardCharsets.UTF_8));
	}

	/** Whether the issuer says the token is active; {@link TokenValidator.IssuerUnavailable} when it cannot be asked. */
	boolean active(String theToken) {
		HttpRequest.Builder request = HttpRequest.newBuilder(myUri).timeout(Duration.ofSeconds(10))
				.header("Content-Type", "application/x-www-form-urlencoded")
				.header("Accept", "application/json")
				.POST(HttpRequest.BodyPublishers.ofString("token=" + form(theToken) + "&token_type_hint=access_token"));
		if (myAuthorization != null) {
			request.header("Authorization", myAuthorization);
		}
		try {
			HttpResponse<String> r = myHttp.send(request.build(), HttpResponse.BodyHandlers.ofString());
			if (r.statusCode() != 200) {
				throw new TokenValidator.IssuerUnavailable(new IOException("introspection answered " + r.statusCode()));
			}
			Map<String, Object> answer = JSONObjectUtils.parse(r.body());
			return Boolean.TRUE.equals(answer.get("active"));
		} catch (IOException | java.text.ParseException e) {
			throw new TokenValidator.IssuerUnavailable(e);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new TokenValidator.IssuerUnavailable(e);
		}
	}

	/** RFC 6749 2.3.1: client id and secret are form-encoded before Basic. */
	private static String form(String theValue) {
		return URLEncoder.encode(theValue, StandardCharsets.UTF_8);
	}
}
