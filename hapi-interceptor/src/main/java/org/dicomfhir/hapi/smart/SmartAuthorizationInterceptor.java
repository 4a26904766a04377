package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.model.api.ResourceMetadataKeyEnum;
import ca.uhn.fhir.model.valueset.BundleEntrySearchModeEnum;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilderRule;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilderRuleOp;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilderRuleOpClassifier;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleFinished;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleTester;
import ca.uhn.fhir.rest.server.interceptor.auth.PolicyEnum;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletRequest;
import org.dicomfhir.hapi.config.TypeWideAuthorization;
import org.dicomfhir.hapi.smart.SmartScopes.Grant;
import org.dicomfhir.hapi.smart.SmartScopes.Level;
import org.dicomfhir.hapi.smart.SmartScopes.Permission;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.IdType;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * HAPI authorization rules from the token's SMART scopes: {@code r} → read, vread and instance
 * history; {@code s} → search and type/system history (both HAPI read rules, told apart by the
 * request's operation, see {@link LetterTester}); {@code c} → create, {@code u} → update (HAPI's write rule,
 * with creates denied unless {@code c} is granted too), {@code d} → delete. {@code system/} and
 * {@code user/} grant per resource type ({@code user/} = {@code system/}: this server has no
 * per-user policy); {@code patient/} grants the same inside the token's Patient compartment only,
 * and nothing when the token's patient cannot be resolved. {@code Binary} (no compartment) gets the
 * letters granted on ImagingStudy (or {@code *}) at type level: which Binary a caller may touch is
 * decided by the DICOM Binary access layer from the owning ImagingStudy. {@code Endpoint} (no
 * compartment, no patient data) is readable at type level with a {@code patient/} read of
 * ImagingStudy (or {@code *}): the studies name it. Metadata is always
 * allowed; transactions and batches apply these rules to each entry. Anything else: 403.
 *
 * <p>Requests that do not come from the servlet (the plugin's own DAO calls, with a
 * SystemRequestDetails) are not restricted.
 */
public class SmartAuthorizationInterceptor extends AuthorizationInterceptor implements TypeWideAuthorization {

	private static final String RULES = SmartAuthorizationInterceptor.class.getName() + ".rules";

	private final PatientContext myPatients;

	public SmartAuthorizationInterceptor(PatientContext thePatients) {
		super(PolicyEnum.DENY);
		myPatients = thePatients;
	}

	@Override
	@SuppressWarnings("unchecked")
	public List<IAuthRule> buildRuleList(RequestDetails theRequest) {
		HttpServletRequest servlet = theRequest instanceof ServletRequestDetails s ? s.getServletRequest() : null;
		if (servlet == null) {
			return new RuleBuilder().allowAll("internal request of the server").build();
		}
		// HAPI asks at every check of a request; the answer does not change within one
		Object cached = servlet.getAttribute(RULES);
		if (cached instanceof List<?> l) {
			return (List<IAuthRule>) l;
		}
		SmartToken token = SmartToken.of(servlet);
		List<IAuthRule> rules = token == null ? publicOnly() : rules(token.grants(), token.hasPatientScope()
				? myPatients.patientId(token, servlet) : null);
		servlet.setAttribute(RULES, rules);
		return rules;
	}

	/**
	 * Whether the rules of this request allow the operation on every resource of the type, whatever
	 * its compartment or id: a {@code system/} or {@code user/} grant of the type (or {@code *})
	 * with the operation's letters. Then a caller asking about one resource (the access layer, about
	 * a study) need not read it to know the answer. False when only compartment rules could allow.
	 */
	@Override
	public boolean allowsEveryResourceOfType(RequestDetails theRequest, RestOperationTypeEnum theOperation, String theType) {
		HttpServletRequest servlet = theRequest instanceof ServletRequestDetails s ? s.getServletRequest() : null;
		if (servlet == null) {
			return true; // the server's own request: buildRuleList allows all
		}
		SmartToken token = SmartToken.of(servlet);
		return token != null && grantsEveryResourceOfType(token.grants(), theOperation, theType);
	}

	/** The grants' part of {@link #allowsEveryResourceOfType}: a non-patient grant of the type with the operation's letters. */
	static boolean grantsEveryResourceOfType(List<Grant> theGrants, RestOperationTypeEnum theOperation, String theType) {
		Set<Permission> needed = switch (theOperation) {
			case READ, VREAD, HISTORY_INSTANCE -> Set.of(Permission.READ);
			case SEARCH_TYPE, SEARCH_SYSTEM, HISTORY_TYPE, HISTORY_SYSTEM, GET_PAGE -> Set.of(Permission.SEARCH);
			case CREATE -> Set.of(Permission.CREATE);
			case UPDATE -> Set.of(Permission.UPDATE);
			case DELETE -> Set.of(Permission.DELETE);
			default -> Set.of();
		};
		for (Grant g : theGrants) {
			if (g.level() != Level.PATIENT && (theType.equals(g.resourceType()) || "*".equals(g.resourceType()))
					&& g.permissions().stream().anyMatch(needed::contains)) {
				return true;
			}
		}
		return false;
	}

	private static List<IAuthRule> publicOnly() {
		return new RuleBuilder().allow("metadata").metadata().andThen().denyAll("a bearer token is required").build();
	}

	/** The rules of a token's grants; {@code thePatientId}: the token's Patient, null when none was resolved. */
	static List<IAuthRule> rules(List<Grant> theGrants, String thePatientId) {
		List<Grant> usable = new ArrayList<>();
		for (Grant g : theGrants) {
			if (g.level() != Level.PATIENT || thePatientId != null) {
				usable.add(g);
			}
			if (("ImagingStudy".equals(g.resourceType()) || "*".equals(g.resourceType()))
					&& (g.level() != Level.PATIENT || thePatientId != null)) {
				// Binary: the study's letters, at type level (the access layer checks the owning study)
				usable.add(new Grant(Level.SYSTEM, "Binary", g.permissions()));
			}
			if (g.level() == Level.PATIENT && thePatientId != null
					&& ("ImagingStudy".equals(g.resourceType()) || "*".equals(g.resourceType()))) {
				// Endpoint (no compartment): the server's DICOMweb address that a study names; a patient
				// app reading its studies needs it (Argonaut imaging, _include=ImagingStudy:endpoint).
				// Read letters only, at type level: an Endpoint holds no patient data.
				Set<Permission> read = java.util.EnumSet.noneOf(Permission.class);
				g.permissions().stream().filter(p -> p == Permission.READ || p == Permission.SEARCH).forEach(read::add);
				if (!read.isEmpty()) {
					usable.add(new Grant(Level.SYSTEM, "Endpoint", read));
				}
			}
		}
		IdType patient = thePatientId == null ? null : new IdType("Patient", thePatientId);
		RuleBuilder b = new RuleBuilder();
		b.allow("metadata").metadata();
		// creates first, so a deny of creates for update-only grants does not hide them
		add(b, usable, Permission.CREATE, "create", patient, r -> r.create());
		if (usable.stream().anyMatch(g -> g.permissions().contains(Permission.UPDATE))) {
			b.deny("update scopes without c do not create").create().allResources().withAnyId();
		}
		add(b, usable, Permission.UPDATE, "update", patient, r -> r.write());
		if (usable.stream().anyMatch(g -> g.permissions().contains(Permission.UPDATE))) {
			// a PATCH is let through here; the patched resource then meets the update rules above
			b.allow("patch, checked as an update").patch().allRequests();
		}
		addReads(b, usable, patient);
		add(b, usable, Permission.DELETE, "delete", patient, r -> r.delete());
		if (usable.stream().anyMatch(g -> g.permissions().contains(Permission.SEARCH))) {
			// a batch's search entry answers with a searchset Bundle inside the batch's response; its
			// entries were checked when the entry ran (a sub-request of its own), the Bundle is a container
			b.allow("searchset Bundles inside a batch response").read().resourcesOfType("Bundle").withAnyId()
					.withTester(new BatchSearchResult()).andThen();
		}
		if (usable.stream().anyMatch(g -> g.level() != Level.PATIENT && "*".equals(g.resourceType())
				&& g.permissions().contains(Permission.READ))) {
			b.allow("$dicom-status").operation().named("$dicom-status").onServer().andAllowAllResponses();
		}
		b.allow("transactions, each entry by these rules").transaction().withAnyOperation().andApplyNormalRules();
		b.denyAll("not granted by the token's scopes");
		return b.build();
	}

	private static void add(RuleBuilder theBuilder, List<Grant> theGrants, Permission thePermission, String theVerb, IdType thePatient,
			Function<IAuthRuleBuilderRule, IAuthRuleBuilderRuleOp> theOp) {
		Set<String> done = new java.util.HashSet<>();
		for (Grant g : theGrants) {
			if (!g.permissions().contains(thePermission)) {
				continue;
			}
			boolean compartment = g.level() == Level.PATIENT;
			if (!done.add(g.resourceType() + (compartment ? "@patient" : ""))) {
				continue;
			}
			IAuthRuleBuilderRuleOp op = theOp.apply(theBuilder.allow(g.level().name().toLowerCase(java.util.Locale.ROOT) + "/" + g.resourceType() + " " + theVerb));
			IAuthRuleBuilderRuleOpClassifier classifier = "*".equals(g.resourceType()) ? op.allResources() : op.resourcesOfType(g.resourceType());
			IAuthRuleFinished finished = compartment ? classifier.inCompartment("Patient", thePatient) : classifier.withAnyId();
			finished.andThen();
		}
	}

	/**
	 * HAPI read rules for {@code r} and {@code s}: one per type and level (compartment or type
	 * level) with the letters granted there, its {@link LetterTester} keeping it to their operations.
	 * One rule, not one per letter: HAPI merges a compartment rule into an equal earlier one, and a
	 * tester added to the merged rule would then apply to both letters.
	 */
	private static void addReads(RuleBuilder theBuilder, List<Grant> theGrants, IdType thePatient) {
		java.util.Map<String, Set<Permission>> letters = new java.util.LinkedHashMap<>();
		java.util.Map<String, Grant> first = new java.util.HashMap<>();
		for (Grant g : theGrants) {
			String key = g.resourceType() + (g.level() == Level.PATIENT ? "@patient" : "");
			for (Permission p : g.permissions()) {
				if (p == Permission.READ || p == Permission.SEARCH) {
					letters.computeIfAbsent(key, k -> java.util.EnumSet.noneOf(Permission.class)).add(p);
					first.putIfAbsent(key, g);
				}
			}
		}
		for (java.util.Map.Entry<String, Set<Permission>> e : letters.entrySet()) {
			Grant g = first.get(e.getKey());
			String name = g.level().name().toLowerCase(java.util.Locale.ROOT) + "/" + g.resourceType() + " "
					+ (e.getValue().contains(Permission.READ) ? "r" : "") + (e.getValue().contains(Permission.SEARCH) ? "s" : "");
			IAuthRuleBuilderRuleOp op = theBuilder.allow(name).read();
			IAuthRuleBuilderRuleOpClassifier classifier = "*".equals(g.resourceType()) ? op.allResources() : op.resourcesOfType(g.resourceType());
			IAuthRuleFinished finished = g.level() == Level.PATIENT ? classifier.inCompartment("Patient", thePatient) : classifier.withAnyId();
			finished.withTester(new LetterTester(e.getValue())).andThen();
		}
	}

	/**
	 * Keeps a read rule to the operations of its SMART letter (App Launch 2.x): {@code r} = read,
	 * vread, instance history; {@code s} = search (type, system, compartment: HAPI's SEARCH_TYPE and
	 * SEARCH_SYSTEM), type and system history, and the further pages of these. A batch entry is a
	 * sub-request of its own operation (HAPI gives it the GET's READ or SEARCH_TYPE), so a batch
	 * cannot search with {@code r} alone. A resource a search includes ({@code _include},
	 * {@code _revinclude}) is reached by reference: either letter on its type shows it. Resources
	 * shown by other operations (the batch's own response, whose entries were checked as
	 * sub-requests; {@code $dicom-status}) keep HAPI's read rule: either letter.
	 */
	record LetterTester(Set<Permission> letters) implements IAuthRuleTester {

		@Override
		public boolean matches(RuleTestRequest theRequest) {
			Permission needed = needed(theRequest.operation);
			return needed == null || letters.contains(needed);
		}

		@Override
		public boolean matchesOutput(RuleTestRequest theRequest) {
			RestOperationTypeEnum operation = theRequest.operation;
			if (operation == RestOperationTypeEnum.TRANSACTION || operation == RestOperationTypeEnum.BATCH) {
				// a resource in a batch's response is what an entry read (HAPI checks a GET entry that
				// reads by id only here, not as its sub-request; a search entry's results were checked
				// when it ran and sit in a searchset Bundle) or what a write returned: shown by id, r
				return letters.contains(Permission.READ);
			}
			Permission needed = needed(operation);
			return needed == null || letters.contains(needed) || (needed == Permission.SEARCH && included(theRequest.resource));
		}

		/** The letter an operation needs; null: either (not a read or a search of its own). */
		static Permission needed(RestOperationTypeEnum theOperation) {
			if (theOperation == null) {
				return null;
			}
			return switch (theOperation) {
				case READ, VREAD, HISTORY_INSTANCE -> Permission.READ;
				case SEARCH_TYPE, SEARCH_SYSTEM, HISTORY_TYPE, HISTORY_SYSTEM, GET_PAGE -> Permission.SEARCH;
				default -> null;
			};
		}

		private static boolean included(IBaseResource theResource) {
			return theResource != null && ResourceMetadataKeyEnum.ENTRY_SEARCH_MODE.get(theResource) == BundleEntrySearchModeEnum.INCLUDE;
		}
	}

	/** Only a searchset or history Bundle shown in the response of a batch or transaction. */
	record BatchSearchResult() implements IAuthRuleTester {

		@Override
		public boolean matches(RuleTestRequest theRequest) {
			return false;
		}

		@Override
		public boolean matchesOutput(RuleTestRequest theRequest) {
			return (theRequest.operation == RestOperationTypeEnum.TRANSACTION || theRequest.operation == RestOperationTypeEnum.BATCH)
					&& theRequest.resource instanceof Bundle bundle
					&& (bundle.getType() == Bundle.BundleType.SEARCHSET || bundle.getType() == Bundle.BundleType.HISTORY);
		}
	}
}
