package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import com.nimbusds.jose.util.JSONObjectUtils;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.hl7.fhir.instance.model.api.IBaseConformance;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.UriType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a SMART client discovers: {@code GET [base]/.well-known/smart-configuration} (answered at
 * SERVER_INCOMING_REQUEST_PRE_PROCESSED, as HAPI would take {@code .well-known} for a resource
 * type) and the CapabilityStatement's {@code rest.security} (SMART-on-FHIR service, oauth-uris).
 * Endpoints come from the issuer's OpenID discovery document. Argonaut SMART Imaging Access: this
 * endpoint also serves ImagingStudy, so {@code smart-imaging-access} is a top-level capability.
 */
@Interceptor
public class SmartDiscovery {

	static final String PATH = "/.well-known/smart-configuration";
	static final String OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

	private static final Logger ourLog = LoggerFactory.getLogger(SmartDiscovery.class);
	private static final List<String> CAPABILITIES = List.of(
			"launch-standalone", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
			"sso-openid-connect", "context-standalone-patient", "permission-patient", "permission-user",
			"permission-v1", "permission-v2", "smart-imaging-access",
			"http://fhir.org/argonaut/smart-imaging/capabilities/app-launch",
			"http://fhir.org/argonaut/smart-imaging/capabilities/backend-services");
	private static final List<String> SCOPES = List.of(
			"openid", "fhirUser", "launch/patient", "offline_access",
			"patient/ImagingStudy.rs", "patient/Patient.rs", "patient/*.rs",
			"user/ImagingStudy.rs", "user/*.cruds",
			"system/ImagingStudy.rs", "system/ImagingStudy.cruds", "system/*.rs", "system/*.cruds");

	private final IssuerMetadata myIssuer;

	public SmartDiscovery(IssuerMetadata theIssuer) {
		myIssuer = theIssuer;
	}

	/** Answers {@code GET [base]/.well-known/smart-configuration}; runs before the token check, as the document is public. */
	@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED, order = BearerTokenInterceptor.ORDER - 1)
	public boolean smartConfiguration(HttpServletRequest theRequest, HttpServletResponse theResponse) throws IOException {
		if (!PATH.equals(theRequest.getPathInfo()) || !"GET".equals(theRequest.getMethod())) {
			return true;
		}
		byte[] body;
		int status = 200;
		try {
			body = JSONObjectUtils.toJSONString(document()).getBytes(StandardCharsets.UTF_8);
		} catch (IllegalStateException e) {
			ourLog.error("SMART configuration: {}", e.getMessage());
			status = 503;
			body = "{\"error\":\"the token issuer cannot be reached\"}".getBytes(StandardCharsets.UTF_8);
		}
		theResponse.setStatus(status);
		theResponse.setContentType("application/json;charset=utf-8");
		theResponse.setHeader("Cache-Control", "no-store");
		theResponse.setContentLength(body.length);
		try (OutputStream out = theResponse.getOutputStream()) {
			out.write(body);
		}
		return false;
	}

	/** The smart-configuration document (SMART App Launch 2.2, conformance). */
	Map<String, Object> document() {
		Map<String, Object> doc = new LinkedHashMap<>();
		doc.put("issuer", myIssuer.string("issuer") != null ? myIssuer.string("issuer") : myIssuer.describe());
		doc.put("jwks_uri", myIssuer.jwksUri());
		putIfPresent(doc, "authorization_endpoint", myIssuer.string("authorization_endpoint"));
		putIfPresent(doc, "token_endpoint", myIssuer.string("token_endpoint"));
		putIfPresent(doc, "introspection_endpoint", myIssuer.string("introspection_endpoint"));
		putIfPresent(doc, "revocation_endpoint", myIssuer.string("revocation_endpoint"));
		doc.put("grant_types_supported", List.of("authorization_code", "client_credentials"));
		doc.put("token_endpoint_auth_methods_supported", List.of("private_key_jwt", "client_secret_basic", "client_secret_post"));
		doc.put("token_endpoint_auth_signing_alg_values_supported", List.of("RS384", "ES384"));
		doc.put("scopes_supported", SCOPES);
		doc.put("response_types_supported", List.of("code"));
		doc.put("code_challenge_methods_supported", List.of("S256"));
		doc.put("capabilities", CAPABILITIES);
		return doc;
	}

	private static void putIfPresent(Map<String, Object> theDoc, String theKey, String theValue) {
		if (theValue != null) {
			theDoc.put(theKey, theValue);
		}
	}

	/** CapabilityStatement.rest.security: the SMART-on-FHIR service and the issuer's token and authorize URLs. */
	@Hook(Pointcut.SERVER_CAPABILITY_STATEMENT_GENERATED)
	public void capabilityStatement(IBaseConformance theCapabilityStatement) {
		if (!(theCapabilityStatement instanceof CapabilityStatement cs)) {
			return;
		}
		for (CapabilityStatement.CapabilityStatementRestComponent rest : cs.getRest()) {
			CapabilityStatement.CapabilityStatementRestSecurityComponent security = rest.getSecurity();
			security.setCors(true);
			security.setService(List.of(new CodeableConcept().addCoding(new org.hl7.fhir.r4.model.Coding(
					"http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR", "SMART-on-FHIR"))));
			security.setDescription("OAuth2 bearer tokens (SMART App Launch 2, Backend Services) from " + myIssuer.describe());
			try {
				Extension uris = new Extension(OAUTH_URIS);
				addUri(uris, "token", myIssuer.string("token_endpoint"));
				addUri(uris, "authorize", myIssuer.string("authorization_endpoint"));
				addUri(uris, "introspect", myIssuer.string("introspection_endpoint"));
				security.getExtension().removeIf(e -> OAUTH_URIS.equals(e.getUrl()));
				security.addExtension(uris);
			} catch (IllegalStateException e) {
				ourLog.warn("CapabilityStatement without oauth-uris: {}", e.getMessage());
			}
		}
	}

	private static void addUri(Extension theParent, String theName, String theValue) {
		if (theValue != null) {
			theParent.addExtension(theName, new UriType(theValue));
		}
	}
}
