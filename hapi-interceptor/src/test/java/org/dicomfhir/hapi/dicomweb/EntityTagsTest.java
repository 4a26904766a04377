package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** ETags of what WADO-RS serves and the If-None-Match check: functions of Binary ids and headers. */
class EntityTagsTest {

	private static final String SHA_A = "a".repeat(64);
	private static final String SHA_B = "b".repeat(64);

	private static StudyStore.InstanceRef ref(String theBinaryId) {
		return new StudyStore.InstanceRef("1.2", "1.2.3", "1.2.3." + theBinaryId.charAt(0), "1.2.3.4", theBinaryId, null, 10L);
	}

	@Test
	void anInstanceAsStoredIsTaggedWithItsSha256_anythingElseWithADigestOfItsBinaries() {
		assertThat(EntityTags.of(List.of(ref(SHA_A)), "")).isEqualTo("\"" + SHA_A + "\"");
		String study = EntityTags.of(List.of(ref(SHA_A), ref(SHA_B)), "");
		assertThat(study).matches("\"[0-9a-f]{64}\"").isNotEqualTo(EntityTags.of(List.of(ref(SHA_B), ref(SHA_A)), ""));
		String variant = EntityTags.of(List.of(ref(SHA_A)), "frames/1");
		assertThat(variant).startsWith("\"m-").isNotEqualTo(EntityTags.of(List.of(ref(SHA_A)), "frames/2"));
		assertThat(EntityTags.computed(List.of(ref(SHA_A)), "frames/1"))
				.as("what the core computes changes with the core").isNotEqualTo(variant);
	}

	@Test
	void ifNoneMatchNamingTheTag_weaklyOrInAList_orStar_isA304WithTheTag() {
		String etag = "\"" + SHA_A + "\"";
		for (String inm : new String[] {etag, "W/" + etag, "\"other\", " + etag, "*"}) {
			Map<String, Object> answered = new HashMap<>();
			assertThat(EntityTags.notModified(request(inm, answered), response(answered), etag)).as(inm).isTrue();
			assertThat(answered).as(inm).containsEntry("status", 304).containsEntry("ETag", etag);
		}
		for (String inm : new String[] {null, "\"other\"", "W/\"" + SHA_B + "\""}) {
			Map<String, Object> answered = new HashMap<>();
			assertThat(EntityTags.notModified(request(inm, answered), response(answered), etag)).as(String.valueOf(inm)).isFalse();
			assertThat(answered).as(String.valueOf(inm)).isEmpty();
		}
	}

	private static DicomWebRequest request(String theIfNoneMatch, Map<String, Object> theAnswered) {
		HttpServletRequest request = (HttpServletRequest) Proxy.newProxyInstance(loader(HttpServletRequest.class),
				new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> {
					if (method.getName().equals("getHeader") && "If-None-Match".equalsIgnoreCase((String) args[0])) {
						return theIfNoneMatch;
					}
					throw new UnsupportedOperationException(method.getName());
				});
		return new DicomWebRequest(null, request, response(theAnswered), null);
	}

	/** A response that records its status and headers. */
	private static HttpServletResponse response(Map<String, Object> theAnswered) {
		return (HttpServletResponse) Proxy.newProxyInstance(loader(HttpServletResponse.class),
				new Class<?>[] {HttpServletResponse.class}, (proxy, method, args) -> {
					switch (method.getName()) {
						case "setStatus" -> theAnswered.put("status", args[0]);
						case "setHeader" -> theAnswered.put((String) args[0], args[1]);
						default -> throw new UnsupportedOperationException(method.getName());
					}
					return null;
				});
	}

	private static ClassLoader loader(Class<?> theType) {
		return theType.getClassLoader();
	}
}
