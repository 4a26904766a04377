package org.dicomfhir.hapi.smart;

import com.nimbusds.jose.util.JSONObjectUtils;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The issuer's OpenID discovery document ({@code <issuer>/.well-known/openid-configuration}),
 * fetched on first use (the identity provider may start after this server) and kept once read.
 */
public class IssuerMetadata {

	private final SmartProperties myProperties;
	private final HttpClient myHttp = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
	private volatile Map<String, Object> myDocument;

	public IssuerMetadata(SmartProperties theProperties) {
		myProperties = theProperties;
	}

	/** The discovery document; throws {@link IllegalStateException} when the issuer cannot be reached. */
	public Map<String, Object> document() {
		Map<String, Object> doc = myDocument;
		if (doc != null) {
			return doc;
		}
		synchronized (this) {
			if (myDocument == null) {
				myDocument = fetch();
			}
			return myDocument;
		}
	}

	private Map<String, Object> fetch() {
		String url = stripSlash(myProperties.getIssuer()) + "/.well-known/openid-configuration";
		try {
			HttpResponse<String> r = myHttp.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
					.header("Accept", "application/json").GET().build(), HttpResponse.BodyHandlers.ofString());
			if (r.statusCode() != 200) {
				throw new IllegalStateException("OpenID discovery " + url + " answered " + r.statusCode());
			}
			return JSONObjectUtils.parse(r.body());
		} catch (IOException | java.text.ParseException e) {
			throw new IllegalStateException("OpenID discovery " + url + " failed: " + e.getMessage(), e);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException("interrupted", e);
		}
	}

	/** A string field of the discovery document, or null. */
	public String string(String theField) {
		Object v = document().get(theField);
		return v instanceof String s ? s : null;
	}

	/** A list-of-strings field of the discovery document (empty when absent). */
	public List<String> strings(String theField) {
		Object v = document().get(theField);
		if (v instanceof List<?> l) {
			return l.stream().filter(String.class::isInstance).map(String.class::cast).toList();
		}
		return List.of();
	}

	/** The key set's URL: the configured override, else the discovery document's. */
	public String jwksUri() {
		String configured = myProperties.getJwksUri();
		if (configured != null && !configured.isBlank()) {
			return configured;
		}
		String uri = string("jwks_uri");
		if (uri == null) {
			throw new IllegalStateException("the issuer's discovery document has no jwks_uri");
		}
		return uri;
	}

	/** The configured issuer, for messages. */
	public String describe() {
		return myProperties.getIssuer();
	}

	static String stripSlash(String theUrl) {
		return theUrl.endsWith("/") ? theUrl.substring(0, theUrl.length() - 1) : theUrl;
	}
}
