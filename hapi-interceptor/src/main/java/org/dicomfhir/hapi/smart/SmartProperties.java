package org.dicomfhir.hapi.smart;

import org.springframework.boot.context.properties.ConfigurationProperties;

/** {@code dicomfhir.smart.*}: bearer tokens from an OpenID provider (docs/security.md, "Tokens (SMART on FHIR)"). */
@ConfigurationProperties(prefix = "dicomfhir.smart")
public class SmartProperties {

	/** Off by default: nothing of this package is active then. */
	private boolean enabled;
	/** The token issuer ({@code iss}); its {@code /.well-known/openid-configuration} names the keys and endpoints. Required when enabled. */
	private String issuer;
	/** The {@code aud} value a token must carry to be meant for this server. Required when enabled. */
	private String audience;
	/** Overrides the discovery document's {@code jwks_uri}. */
	private String jwksUri;
	/** Claim holding the FHIR Patient id of a patient-context token. */
	private String patientClaim = "patient";
	/** Claim holding {@code system|value}: the identifier of the token's Patient, looked up at request time. */
	private String patientIdentifierClaim = "patient_identifier";
	/** Allowed clock difference when checking {@code exp} and {@code nbf}. */
	private int clockSkewSeconds = 30;
	/** How long a resolved {@code patient_identifier} (the Patient it names) is remembered. */
	private int patientCacheSeconds = 60;
	/** The fewest seconds between two fetches of the issuer's keys (an unknown {@code kid} triggers one). */
	private int jwksMinRefreshSeconds = 30;
	/** How long fetched keys are used before they are fetched again. */
	private int jwksCacheSeconds = 300;

	/** RFC 7662 token introspection, also asked for every new token when set: {@code active} must be true. */
	private String introspectionUri;
	/** This server's client id at the introspection endpoint (HTTP Basic). */
	private String introspectionClientId;
	/** This server's client secret at the introspection endpoint (HTTP Basic). */
	private String introspectionClientSecret;

	public String getIntrospectionUri() {
		return introspectionUri;
	}

	public void setIntrospectionUri(String theIntrospectionUri) {
		introspectionUri = theIntrospectionUri;
	}

	public String getIntrospectionClientId() {
		return introspectionClientId;
	}

	public void setIntrospectionClientId(String theIntrospectionClientId) {
		introspectionClientId = theIntrospectionClientId;
	}

	public String getIntrospectionClientSecret() {
		return introspectionClientSecret;
	}

	public void setIntrospectionClientSecret(String theIntrospectionClientSecret) {
		introspectionClientSecret = theIntrospectionClientSecret;
	}

	public boolean isEnabled() {
		return enabled;
	}

	public void setEnabled(boolean theEnabled) {
		enabled = theEnabled;
	}

	public String getIssuer() {
		return issuer;
	}

	public void setIssuer(String theIssuer) {
		issuer = theIssuer;
	}

	public String getAudience() {
		return audience;
	}

	public void setAudience(String theAudience) {
		audience = theAudience;
	}

	public String getJwksUri() {
		return jwksUri;
	}

	public void setJwksUri(String theJwksUri) {
		jwksUri = theJwksUri;
	}

	public String getPatientClaim() {
		return patientClaim;
	}

	public void setPatientClaim(String thePatientClaim) {
		patientClaim = thePatientClaim;
	}

	public String getPatientIdentifierClaim() {
		return patientIdentifierClaim;
	}

	public void setPatientIdentifierClaim(String thePatientIdentifierClaim) {
		patientIdentifierClaim = thePatientIdentifierClaim;
	}

	public int getClockSkewSeconds() {
		return clockSkewSeconds;
	}

	public void setClockSkewSeconds(int theClockSkewSeconds) {
		clockSkewSeconds = theClockSkewSeconds;
	}

	public int getPatientCacheSeconds() {
		return patientCacheSeconds;
	}

	public void setPatientCacheSeconds(int thePatientCacheSeconds) {
		patientCacheSeconds = thePatientCacheSeconds;
	}

	public int getJwksMinRefreshSeconds() {
		return jwksMinRefreshSeconds;
	}

	public void setJwksMinRefreshSeconds(int theJwksMinRefreshSeconds) {
		jwksMinRefreshSeconds = theJwksMinRefreshSeconds;
	}

	public int getJwksCacheSeconds() {
		return jwksCacheSeconds;
	}

	public void setJwksCacheSeconds(int theJwksCacheSeconds) {
		jwksCacheSeconds = theJwksCacheSeconds;
	}
}
