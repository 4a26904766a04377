package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.dicomfhir.example.config.ViewerAppConfigController;
import org.dicomfhir.example.config.ViewerConfig;
import org.junit.jupiter.api.Test;
import org.springframework.core.io.ClassPathResource;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OHIF config the server generates (the browser side is scripts/browser-smart-test.sh): the
 * committed file unchanged without SMART, one {@code oidc} entry from the properties with it, and
 * property values that stay data inside the script whatever they contain.
 */
class ViewerAppConfigTest {

	private static final Pattern OIDC = Pattern.compile("\nwindow\\.config\\.oidc = (\\[.*?\\]);\n$", Pattern.DOTALL);

	private static String committed() throws Exception {
		try (var in = new ClassPathResource("viewer/app-config.js").getInputStream()) {
			return new String(in.readAllBytes(), StandardCharsets.UTF_8);
		}
	}

	private static String script(boolean smart, String issuer, String clientId, String scope) {
		return new ViewerAppConfigController(new ViewerConfig(""), smart, issuer, clientId, scope).script();
	}

	@Test
	void withoutSmartTheCommittedFileIsServedUnchanged() throws Exception {
		String script = script(false, "http://127.0.0.1:18180/realms/dicom", "dicom-viewer", "openid");
		assertEquals(committed(), script);
		assertFalse(script.contains("oidc"));
	}

	@Test
	void withSmartTheIssuerIsTheAuthority() throws Exception {
		String script = script(true, "http://127.0.0.1:18180/realms/dicom", "dicom-viewer",
				"openid launch/patient patient/*.rs");
		assertTrue(script.startsWith(committed()), "the data source configuration is kept as committed");
		Matcher m = OIDC.matcher(script);
		assertTrue(m.find(), script);
		JsonNode oidc = new ObjectMapper().readTree(m.group(1));
		assertEquals(1, oidc.size(), "OHIF uses oidc[0] only");
		assertEquals("http://127.0.0.1:18180/realms/dicom", oidc.get(0).get("authority").asText());
		assertEquals("dicom-viewer", oidc.get(0).get("client_id").asText());
		assertEquals("code", oidc.get(0).get("response_type").asText());
		assertEquals("/callback", oidc.get(0).get("redirect_uri").asText());
		assertEquals("openid launch/patient patient/*.rs", oidc.get(0).get("scope").asText());
	}

	@Test
	void aPropertyCannotBreakOutOfItsString() throws Exception {
		// What a careless operator (or a hostile environment variable) could put in a property.
		String issuer = "http://idp/x';alert(1);//\"];alert(2);//\n</script>";
		String script = script(true, issuer, "a\"b\\c", "openid\u2028x");
		Matcher m = OIDC.matcher(script);
		assertTrue(m.find(), script);
		JsonNode entry = new ObjectMapper().readTree(m.group(1)).get(0);
		assertEquals(issuer, entry.get("authority").asText());
		assertEquals("a\"b\\c", entry.get("client_id").asText());
		// The generated statement is one JSON literal: nothing of the values outside it.
		assertFalse(script.substring(committed().length()).replace(m.group(1), "").contains("alert"));
	}
}
