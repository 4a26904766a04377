package org.dicomfhir.hapi.smart;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKMatcher;
import com.nimbusds.jose.jwk.JWKSelector;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.BadJWTException;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;

import java.net.MalformedURLException;
import java.net.URI;
import java.security.Key;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Checks a bearer token locally with Nimbus: a JWS signed with an asymmetric algorithm (RS*, PS*,
 * ES*) by a key of the issuer's key set, {@code iss}, {@code aud}, {@code exp}, {@code nbf} (with a
 * small clock skew) and {@code typ} (JWT, at+jwt or none). Never {@code none}, never HS* (a
 * symmetric algorithm would let anyone holding the public key sign). The key set is cached and
 * fetched again, rate-limited, when a token names an unknown {@code kid} (key rotation).
 */
public class TokenValidator {

	/** Why a token was refused; the description never repeats what the token says. */
	public static final class InvalidToken extends Exception {
		InvalidToken(String theDescription) {
			super(theDescription, null, false, false);
		}
	}

	/** The issuer's keys could not be fetched: the server's problem, not the token's (503). */
	public static final class IssuerUnavailable extends RuntimeException {
		IssuerUnavailable(Throwable theCause) {
			// the cause's message names the endpoint, never the token
			super("The token issuer cannot be asked (keys or introspection): " + theCause.getMessage(), theCause);
		}
	}

	private static final Set<JWSAlgorithm> ASYMMETRIC = Set.of(
			JWSAlgorithm.RS256, JWSAlgorithm.RS384, JWSAlgorithm.RS512,
			JWSAlgorithm.PS256, JWSAlgorithm.PS384, JWSAlgorithm.PS512,
			JWSAlgorithm.ES256, JWSAlgorithm.ES384, JWSAlgorithm.ES512);

	private final SmartProperties myProperties;
	private final IssuerMetadata myIssuer;
	private volatile DefaultJWTProcessor<SecurityContext> myProcessor;

	private final TokenIntrospection myIntrospection;

	public TokenValidator(SmartProperties theProperties, IssuerMetadata theIssuer) {
		myProperties = theProperties;
		myIssuer = theIssuer;
		String introspection = theProperties.getIntrospectionUri();
		myIntrospection = introspection == null || introspection.isBlank() ? null : new TokenIntrospection(theProperties);
	}

	/** A validated token, reused until its expiry or for at most this long (a client sends one token many times). */
	static final long REUSE_MILLIS = 60_000;
	private static final int MAX_REMEMBERED = 4096;

	private record Remembered(SmartToken token, long untilMillis) {
	}

	private final java.util.concurrent.ConcurrentHashMap<String, Remembered> myValidated = new java.util.concurrent.ConcurrentHashMap<>();

	/**
	 * The claims of a valid token; {@link InvalidToken} otherwise. A token validated in the last
	 * minute (and not expired since) is not checked again: the signature check is most of the cost
	 * of a request's authentication (docs/security.md, "Tokens (SMART on FHIR)").
	 */
	public SmartToken validate(String theToken) throws InvalidToken {
		long now = System.currentTimeMillis();
		Remembered known = myValidated.get(theToken);
		if (known != null && known.untilMillis() > now) {
			return known.token();
		}
		JWTClaimsSet claims = check(theToken);
		if (myIntrospection != null && !myIntrospection.active(theToken)) {
			throw new InvalidToken("The token is not active (revoked, or unknown to the issuer)");
		}
		SmartToken token = new SmartToken(claims.getSubject(), clientId(claims), SmartScopes.parse(scope(claims)),
				string(claims, myProperties.getPatientClaim()), string(claims, myProperties.getPatientIdentifierClaim()));
		if (myValidated.size() >= MAX_REMEMBERED) {
			myValidated.clear();
		}
		myValidated.put(theToken, new Remembered(token, Math.min(now + REUSE_MILLIS, claims.getExpirationTime().getTime())));
		return token;
	}

	/** Signature, algorithm, typ and claims, every time (no reuse): what a token seen for the first time costs. */
	public SmartToken validateUncached(String theToken) throws InvalidToken {
		JWTClaimsSet claims = check(theToken);
		return new SmartToken(claims.getSubject(), clientId(claims), SmartScopes.parse(scope(claims)),
				string(claims, myProperties.getPatientClaim()), string(claims, myProperties.getPatientIdentifierClaim()));
	}

	private JWTClaimsSet check(String theToken) throws InvalidToken {
		JWTClaimsSet claims;
		try {
			claims = processor().process(theToken, null);
		} catch (ParseException e) {
			throw new InvalidToken("The token is not a well-formed JWT");
		} catch (BadJWTException e) {
			throw new InvalidToken(describe(e.getMessage()));
		} catch (com.nimbusds.jose.jwk.source.RateLimitReachedException e) {
			// an unknown kid right after a fetch of the keys: not one of the issuer's keys (yet)
			throw new InvalidToken("The token is signed by a key the issuer does not publish");
		} catch (KeySourceException e) {
			throw new IssuerUnavailable(e);
		} catch (BadJOSEException e) {
			throw new InvalidToken(e.getMessage() != null && e.getMessage().contains("type")
					? "The token's typ is not JWT or at+jwt" : "The token is not signed by the issuer (or not signed at all)");
		} catch (com.nimbusds.jose.JOSEException e) {
			throw new InvalidToken("The token's signature could not be checked");
		}
		return claims;
	}

	/** Nimbus's claim-check messages, said without the claim values they carry. */
	private static String describe(String theMessage) {
		String m = theMessage == null ? "" : theMessage;
		if (m.startsWith("Expired")) {
			return "The token has expired";
		}
		if (m.contains("aud")) {
			return "The token is not meant for this server (aud)";
		}
		if (m.contains("iss")) {
			return "The token is not from the configured issuer (iss)";
		}
		if (m.contains("before use time")) {
			return "The token is not valid yet (nbf)";
		}
		if (m.toLowerCase(java.util.Locale.ROOT).contains("missing required claims")) {
			return "The token lacks a required claim (iss, aud, exp)";
		}
		return "The token's claims are not acceptable";
	}

	private static String clientId(JWTClaimsSet theClaims) {
		String id = string(theClaims, "client_id");
		return id != null ? id : string(theClaims, "azp");
	}

	/** {@code scope} (space-separated, RFC 9068) or {@code scp} (a list, as some providers send it). */
	private static String scope(JWTClaimsSet theClaims) {
		String scope = string(theClaims, "scope");
		if (scope != null) {
			return scope;
		}
		Object scp = theClaims.getClaim("scp");
		if (scp instanceof List<?> l) {
			return String.join(" ", l.stream().map(String::valueOf).toList());
		}
		return scp instanceof String s ? s : null;
	}

	private static String string(JWTClaimsSet theClaims, String theName) {
		Object v = theName == null ? null : theClaims.getClaim(theName);
		return v instanceof String s && !s.isBlank() ? s : null;
	}

	private DefaultJWTProcessor<SecurityContext> processor() throws KeySourceException {
		DefaultJWTProcessor<SecurityContext> processor = myProcessor;
		if (processor != null) {
			return processor;
		}
		synchronized (this) {
			if (myProcessor == null) {
				myProcessor = build();
			}
			return myProcessor;
		}
	}

	private DefaultJWTProcessor<SecurityContext> build() throws KeySourceException {
		JWKSource<SecurityContext> keys;
		List<JWSAlgorithm> fallback;
		try {
			JWKSourceBuilder<SecurityContext> builder = JWKSourceBuilder.<SecurityContext>create(URI.create(myIssuer.jwksUri()).toURL())
					.cache(myProperties.getJwksCacheSeconds() * 1000L, JWKSourceBuilder.DEFAULT_CACHE_REFRESH_TIMEOUT)
					.retrying(true);
			// at most one fetch per interval (an unknown kid cannot make us hammer the issuer); 0: none
			int minRefresh = myProperties.getJwksMinRefreshSeconds();
			keys = (minRefresh > 0 ? builder.rateLimited(minRefresh * 1000L) : builder.rateLimited(false)).build();
			fallback = myIssuer.strings("id_token_signing_alg_values_supported").stream()
					.map(JWSAlgorithm::parse).filter(ASYMMETRIC::contains).toList();
		} catch (IllegalStateException | MalformedURLException | IllegalArgumentException e) {
			throw new KeySourceException("issuer metadata unavailable: " + e.getMessage(), e);
		}
		DefaultJWTProcessor<SecurityContext> processor = new DefaultJWTProcessor<>();
		processor.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(JOSEObjectType.JWT, new JOSEObjectType("at+jwt"), null));
		processor.setJWSKeySelector(new IssuerKeys(keys, fallback.isEmpty() ? List.of(JWSAlgorithm.RS256) : fallback));
		DefaultJWTClaimsVerifier<SecurityContext> claims = new DefaultJWTClaimsVerifier<>(
				// mutable sets: Nimbus asks them whether they contain null (Set.of would throw)
				new HashSet<>(List.of(myProperties.getAudience())),
				new JWTClaimsSet.Builder().issuer(myProperties.getIssuer()).build(),
				new HashSet<>(List.of("iss", "aud", "exp")),
				new HashSet<>());
		claims.setMaxClockSkew(myProperties.getClockSkewSeconds());
		processor.setJWTClaimsSetVerifier(claims);
		return processor;
	}

	/**
	 * The issuer's public keys usable for the token's algorithm: only asymmetric algorithms; a key
	 * that publishes its {@code alg} is used for that one only, a key without {@code alg} for the
	 * algorithms the discovery document lists (RS256 when it lists none).
	 */
	private record IssuerKeys(JWKSource<SecurityContext> keys, List<JWSAlgorithm> fallback) implements JWSKeySelector<SecurityContext> {

		@Override
		public List<? extends Key> selectJWSKeys(JWSHeader theHeader, SecurityContext theContext) throws KeySourceException {
			JWSAlgorithm alg = theHeader.getAlgorithm();
			if (!ASYMMETRIC.contains(alg)) {
				return List.of();
			}
			List<Key> out = new ArrayList<>();
			for (JWK jwk : keys.get(new JWKSelector(JWKMatcher.forJWSHeader(theHeader)), theContext)) {
				boolean allowed = jwk.getAlgorithm() != null ? alg.equals(jwk.getAlgorithm()) : fallback.contains(alg);
				if (!allowed) {
					continue;
				}
				try {
					if (jwk instanceof RSAKey rsa) {
						out.add(rsa.toRSAPublicKey());
					} else if (jwk instanceof ECKey ec) {
						out.add(ec.toECPublicKey());
					}
				} catch (com.nimbusds.jose.JOSEException e) {
					// a broken key in the set: skip it
				}
			}
			return out;
		}
	}
}
