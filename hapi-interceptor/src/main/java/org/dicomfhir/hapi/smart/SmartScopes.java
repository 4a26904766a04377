package org.dicomfhir.hapi.smart;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The SMART clinical scopes of a token: {@code <patient|user|system>/<Type|*>.<cruds>} (v2, letters
 * in order) and the v1 forms {@code .read} (= rs), {@code .write} (= cud), {@code .*} (= cruds).
 * Scopes with {@code ?param} filters are ignored (they would grant less than their letters, and
 * ignoring grants nothing); unknown or garbled scopes ({@code openid}, {@code launch/patient},
 * {@code patient/Observation.dr}) are ignored too.
 */
public final class SmartScopes {

	/** Who the grant is for: patient/ (the token's patient only), user/ and system/ (type level). */
	public enum Level { PATIENT, USER, SYSTEM }

	/** What a scope allows. */
	public enum Permission { CREATE, READ, UPDATE, DELETE, SEARCH }

	/** One clinical scope: level, resource type ({@code *}: all) and permissions. */
	public record Grant(Level level, String resourceType, Set<Permission> permissions) {
	}

	private static final Pattern SCOPE = Pattern.compile("(patient|user|system)/([A-Z][A-Za-z]{0,63}|\\*)\\.([a-z*]+)");
	private static final Pattern V2_LETTERS = Pattern.compile("c?r?u?d?s?");

	private SmartScopes() {
	}

	/** The grants of a space-separated {@code scope} claim (null: none). */
	public static List<Grant> parse(String theScopeClaim) {
		List<Grant> grants = new ArrayList<>();
		if (theScopeClaim == null) {
			return grants;
		}
		for (String scope : theScopeClaim.trim().split("\\s+")) {
			Grant grant = parseOne(scope);
			if (grant != null) {
				grants.add(grant);
			}
		}
		return grants;
	}

	/** One scope's grant, or null when it is not a clinical scope this server honours. */
	public static Grant parseOne(String theScope) {
		Matcher m = SCOPE.matcher(theScope);
		if (!m.matches()) {
			return null;
		}
		Level level = Level.valueOf(m.group(1).toUpperCase(Locale.ROOT));
		Set<Permission> permissions = permissions(m.group(3));
		return permissions == null || permissions.isEmpty() ? null : new Grant(level, m.group(2), permissions);
	}

	private static Set<Permission> permissions(String theSuffix) {
		switch (theSuffix) {
			case "read":
				return EnumSet.of(Permission.READ, Permission.SEARCH);
			case "write":
				return EnumSet.of(Permission.CREATE, Permission.UPDATE, Permission.DELETE);
			case "*":
				return EnumSet.allOf(Permission.class);
			default:
				break;
		}
		if (!V2_LETTERS.matcher(theSuffix).matches()) {
			return null;
		}
		Set<Permission> out = EnumSet.noneOf(Permission.class);
		for (char c : theSuffix.toCharArray()) {
			out.add(switch (c) {
				case 'c' -> Permission.CREATE;
				case 'r' -> Permission.READ;
				case 'u' -> Permission.UPDATE;
				case 'd' -> Permission.DELETE;
				default -> Permission.SEARCH;
			});
		}
		return out;
	}
}
