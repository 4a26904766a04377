package org.dicomfhir.hapi.access;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.PolicyEnum;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.hapi.config.TypeWideAuthorization;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.studywrite.PatientConflictException;
import org.dicomfhir.hapi.studywrite.PatientDirectory;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.instance.model.api.IIdType;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.springframework.beans.factory.ObjectProvider;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The caller's rights on an ImagingStudy, as the AuthorizationInterceptors registered on the server
 * (any number, any rules: an operator's, the SMART one) decide them, evaluated with HAPI's own
 * {@link AuthorizationInterceptor#applyRulesAndReturnDecision} on the study as it is stored, or as
 * the plugin would write it. Every registered interceptor must allow; with none registered, the
 * server has no authorization and everything is allowed, as for the rest of HAPI.
 *
 * <p>Requests the plugin or the server makes itself ({@link SystemRequestDetails}, or none) are
 * never checked: the study writer and the reconciler act for the system. Answers are kept per
 * request, so a STOW-RS of a thousand instances of one study asks once.
 *
 * <p>Messages say what was refused, never whose it is: a caller who may not read a study learns
 * neither its patient nor its instances from a refusal.
 */
public class StudyAccess {

	static final String DENIED_READ = "Access denied: the caller may not read this DICOM instance";
	private static final String DECISIONS = StudyAccess.class.getName() + ".decisions";
	private static final String KNOWN_STUDIES = StudyAccess.class.getName() + ".studies";
	private static final String STUDY = "ImagingStudy";

	private final ObjectProvider<RestfulServer> myServer;
	/** The server once it exists: asking Spring each time cost more than the check itself (a profile of STOW-RS). */
	private volatile RestfulServer myResolvedServer;
	private final IInterceptorService myJpaInterceptors;
	private final DaoRegistry myDaoRegistry;
	private final InstanceLedger myLedger;
	private final PatientDirectory myPatients;

	public StudyAccess(ObjectProvider<RestfulServer> theServer, IInterceptorService theJpaInterceptors, DaoRegistry theDaoRegistry,
			InstanceLedger theLedger, PatientDirectory thePatients) {
		myServer = theServer;
		myJpaInterceptors = theJpaInterceptors;
		myDaoRegistry = theDaoRegistry;
		myLedger = theLedger;
		myPatients = thePatients;
	}

	/** The plugin's own and the server's internal requests: never checked. */
	public static boolean isSystem(RequestDetails theRequest) {
		return theRequest == null || theRequest instanceof SystemRequestDetails;
	}

	/** Nothing to ask: the system's request, or a server without authorization (then no study is read for nothing). */
	private boolean unchecked(RequestDetails theRequest) {
		return isSystem(theRequest) || authorizations().isEmpty();
	}

	/**
	 * Before a body is read: refuses (403) a caller whose rules allow no ImagingStudy write at all
	 * (a reader), whatever the bytes. A caller allowed to write in some compartment passes; which
	 * study, the check after the parse ({@link #requireMayStore}) decides.
	 */
	public void requireMayStoreAny(RequestDetails theRequest) {
		if (unchecked(theRequest) || cached(theRequest, "store-any", () -> mayWriteSomeStudy(theRequest))) {
			return;
		}
		throw new ForbiddenOperationException("Access denied: the caller may not store DICOM instances"
				+ " (storing an instance writes its ImagingStudy, which the caller's rules do not allow)");
	}

	/**
	 * After the parse, before any lookup or claim: the caller may write the ImagingStudy this
	 * instance goes into (id = its Study Instance UID): the stored one (update), else the one the
	 * plugin would create (its subject: the Patient of the study's claimed patient, else of the
	 * instance's, found by exact identifier) and, when that Patient does not exist yet, the Patient
	 * the plugin would create.
	 */
	public void requireMayStore(RequestDetails theRequest, DicomInstance theInstance) {
		if (unchecked(theRequest)) {
			return;
		}
		String study = theInstance.studyInstanceUid();
		if (!cached(theRequest, "store:" + study, () -> mayStore(theRequest, study, InstanceLedger.Patient.of(theInstance)))) {
			throw new ForbiddenOperationException("Access denied: the caller may not store instances in study " + study);
		}
	}

	/** Removing or changing an instance changes its study: the caller may update it. */
	public void requireMayChange(RequestDetails theRequest, String theStudyUid) {
		if (!mayChange(theRequest, theStudyUid)) {
			throw new ForbiddenOperationException("Access denied: the caller may not change or delete this DICOM instance");
		}
	}

	/** As {@link #requireMayChange(RequestDetails, String)} for a stored DICOM Binary, whose owner is looked up only when asked. */
	public void requireMayChange(RequestDetails theRequest, org.hl7.fhir.r4.model.Binary theBinary) {
		if (!unchecked(theRequest)) {
			requireMayChange(theRequest, ownerStudy(theBinary));
		}
	}

	/** Whether the caller may read this DICOM Binary: read its owning study. */
	public boolean mayRead(RequestDetails theRequest, org.hl7.fhir.r4.model.Binary theBinary) {
		return unchecked(theRequest) || mayRead(theRequest, ownerStudy(theBinary));
	}

	public boolean mayChange(RequestDetails theRequest, String theStudyUid) {
		return unchecked(theRequest) || cached(theRequest, "change:" + theStudyUid, () -> {
			if (theStudyUid == null) {
				return false;
			}
			if (allowedOnEveryStudy(theRequest, RestOperationTypeEnum.UPDATE)) {
				return true;
			}
			ImagingStudy study = storedOrProposed(theStudyUid, theRequest);
			return study != null && allowed(theRequest, RestOperationTypeEnum.UPDATE, study, study.getIdElement(), null,
					Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED);
		});
	}

	/**
	 * Whether the caller may see the study (and so its instances) in this request: a search (or
	 * history) shows an instance to a caller who may search the study, a read to one who may read it
	 * (SMART's {@code s} and {@code r} are different rights); false for an unknown owner.
	 */
	public boolean mayRead(RequestDetails theRequest, String theStudyUid) {
		RestOperationTypeEnum operation = isSearch(theRequest.getRestOperationType()) ? theRequest.getRestOperationType()
				: RestOperationTypeEnum.READ;
		return unchecked(theRequest) || cached(theRequest, operation + ":" + theStudyUid, () -> {
			if (theStudyUid == null) {
				return false;
			}
			if (allowedOnEveryStudy(theRequest, operation)) {
				return true;
			}
			ImagingStudy study = storedOrProposed(theStudyUid, theRequest);
			return study != null && allowed(theRequest, operation, null, study.getIdElement(), study,
					Pointcut.STORAGE_PRESHOW_RESOURCES);
		});
	}

	/**
	 * Whether a refusal may name the patient identity a study belongs to to this caller: it may read
	 * the study (which names its Patient) and that Patient (which carries the identity). False when
	 * either does not exist (yet), or when several Patients claim the identity.
	 */
	public boolean mayReadPatientOf(RequestDetails theRequest, String theStudyUid, InstanceLedger.Patient theIdentity) {
		if (unchecked(theRequest)) {
			return true;
		}
		ImagingStudy study = storedOrProposed(theStudyUid, theRequest);
		String patientId = patientId(theIdentity);
		return study != null && patientId != null
				&& (allowedOnEveryStudy(theRequest, RestOperationTypeEnum.READ)
						|| allowed(theRequest, RestOperationTypeEnum.READ, null, study.getIdElement(), study, Pointcut.STORAGE_PRESHOW_RESOURCES))
				&& mayReadPatients(theRequest, List.of(patientId));
	}

	/** Whether the caller may read every one of these stored Patients ({@code Patient/<id>}): then a refusal may name them. */
	public boolean mayReadPatients(RequestDetails theRequest, List<String> thePatientIds) {
		if (unchecked(theRequest) || allowedOnEvery(theRequest, RestOperationTypeEnum.READ, "Patient")) {
			return true;
		}
		for (String id : thePatientIds) {
			Patient patient;
			try {
				patient = myDaoRegistry.getResourceDao(Patient.class).read(new IdType(id), new SystemRequestDetails());
			} catch (ResourceNotFoundException | ResourceGoneException e) {
				return false;
			}
			if (!allowed(theRequest, RestOperationTypeEnum.READ, null, patient.getIdElement(), patient, Pointcut.STORAGE_PRESHOW_RESOURCES)) {
				return false;
			}
		}
		return true;
	}

	/** The pointcuts HAPI's DAO read of a resource fires, whose every hook {@link #showsWithoutDao} must account for. */
	private static final List<Pointcut> READ_POINTCUTS = List.of(Pointcut.STORAGE_PREACCESS_RESOURCES, Pointcut.STORAGE_PRESHOW_RESOURCES,
			Pointcut.STORAGE_PARTITION_IDENTIFY_READ, Pointcut.STORAGE_PARTITION_IDENTIFY_ANY, Pointcut.STORAGE_PARTITION_SELECTED);

	/**
	 * Whether a copy of this ImagingStudy, read earlier and still its current version, may be shown
	 * to the caller without HAPI's DAO read: true only when that read's outcome is known to be
	 * "shown, unchanged". That holds when every hook the read would call (on the server's and the
	 * JPA interceptor services, at {@link #READ_POINTCUTS}) is one of: an AuthorizationInterceptor
	 * that does not override {@code hookPreShow} (its rules are evaluated here, exactly as that hook
	 * does: the request's operation, the study as output, STORAGE_PRESHOW_RESOURCES, and every one
	 * must ALLOW), this plugin's {@link DicomBinaryAccessInterceptor} (it acts on Binaries only), or
	 * HAPI's BinaryStorageInterceptor (the facade's reads turn its inflation off). Anything else (a
	 * consent service, an audit or BALP interceptor, partitioning, a custom hook) makes this false,
	 * and the caller reads through the DAO, as does a refusal (so a refused caller gets HAPI's own
	 * 403 or 404, as before).
	 */
	public boolean showsWithoutDao(RequestDetails theRequest, ImagingStudy theStudy) {
		if (theRequest == null || !onlyKnownReadHooks(theRequest)) {
			return false;
		}
		for (AuthorizationInterceptor authorization : authorizations()) {
			AuthorizationInterceptor.Verdict verdict = authorization.applyRulesAndReturnDecision(theRequest.getRestOperationType(),
					theRequest, null, null, theStudy, Pointcut.STORAGE_PRESHOW_RESOURCES);
			if (verdict == null || verdict.getDecision() != PolicyEnum.ALLOW) {
				return false;
			}
		}
		return true;
	}

	/**
	 * Whether {@link #showsWithoutDao} can be true for this request at all: a read or a search of
	 * the caller, and every hook at {@link #READ_POINTCUTS} one it accounts for. Asked once before
	 * a search is answered from parsed copies (then each study is still checked with
	 * {@link #showsWithoutDao}). HAPI's search calls the same loading hooks as its read
	 * (STORAGE_PREACCESS_RESOURCES, then STORAGE_PRESHOW_RESOURCES with the request's operation);
	 * its other pointcuts (STORAGE_PRESEARCH_REGISTERED, the partition ones) are called by the
	 * search for ids, which still runs.
	 */
	public boolean evaluatesEveryShowHook(RequestDetails theRequest) {
		return theRequest != null && onlyKnownReadHooks(theRequest);
	}

	private boolean onlyKnownReadHooks(RequestDetails theRequest) {
		RestOperationTypeEnum operation = theRequest.getRestOperationType();
		if (operation != RestOperationTypeEnum.READ && operation != RestOperationTypeEnum.SEARCH_TYPE) {
			return false; // the preshow check of other operations is not the one evaluated here
		}
		RestfulServer server = server();
		for (Pointcut pointcut : READ_POINTCUTS) {
			if (server != null && !knownReadHooks(server.getInterceptorService().getInvokersForPointcut(pointcut), pointcut)) {
				return false;
			}
			if (!knownReadHooks(myJpaInterceptors.getInvokersForPointcut(pointcut), pointcut)) {
				return false;
			}
		}
		return true;
	}

	private static boolean knownReadHooks(List<? extends ca.uhn.fhir.interceptor.api.IBaseInterceptorBroadcaster.IInvoker> theInvokers,
			Pointcut thePointcut) {
		for (var invoker : theInvokers) {
			Object hook = invoker.getInterceptor();
			boolean known = hook instanceof DicomBinaryAccessInterceptor
					|| (thePointcut == Pointcut.STORAGE_PRESHOW_RESOURCES
							&& (hook instanceof ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor<?>
									|| (hook instanceof AuthorizationInterceptor a && preShowIsHapis(a))));
			if (!known) {
				return false;
			}
		}
		return true;
	}

	/** An AuthorizationInterceptor whose preshow hook is HAPI's own (a subclass may override it to do more). */
	private static boolean preShowIsHapis(AuthorizationInterceptor theInterceptor) {
		return PRESHOW_IS_HAPIS.get(theInterceptor.getClass());
	}

	private static final ClassValue<Boolean> PRESHOW_IS_HAPIS = new ClassValue<>() {
		@Override
		protected Boolean computeValue(Class<?> theType) {
			try {
				return theType.getMethod("hookPreShow", RequestDetails.class, ca.uhn.fhir.rest.api.server.IPreResourceShowDetails.class,
						Pointcut.class).getDeclaringClass() == AuthorizationInterceptor.class;
			} catch (NoSuchMethodException e) {
				return false;
			}
		}
	};

	private static boolean isSearch(RestOperationTypeEnum theOperation) {
		return theOperation == RestOperationTypeEnum.SEARCH_TYPE || theOperation == RestOperationTypeEnum.SEARCH_SYSTEM
				|| theOperation == RestOperationTypeEnum.HISTORY_TYPE || theOperation == RestOperationTypeEnum.HISTORY_SYSTEM
				|| theOperation == RestOperationTypeEnum.GET_PAGE;
	}

	/** The Study Instance UID of a DICOM Binary's owner: its securityContext, else the ledger; null when unknown. */
	public String ownerStudy(org.hl7.fhir.r4.model.Binary theBinary) {
		String study = securityContextStudy(theBinary);
		if (study != null) {
			return study;
		}
		InstanceLedger.Row row = myLedger.findByBinary(theBinary.getIdElement().getIdPart(), null);
		return row == null ? null : row.studyInstanceUid();
	}

	/**
	 * The Study Instance UID a stored DICOM Binary's securityContext names (the ingest sets it and
	 * never trusts a client's); null when it names none.
	 */
	public static String securityContextStudy(org.hl7.fhir.r4.model.Binary theBinary) {
		Reference context = theBinary.getSecurityContext();
		if (context != null && context.getReferenceElement().hasIdPart() && STUDY.equals(context.getReferenceElement().getResourceType())) {
			return context.getReferenceElement().getIdPart();
		}
		return null;
	}

	// ------------------------------------------------------------------ evaluation

	private boolean mayStore(RequestDetails theRequest, String theStudyUid, InstanceLedger.Patient theInstancePatient) {
		if (allowedOnEveryStudy(theRequest, RestOperationTypeEnum.UPDATE) && allowedOnEveryStudy(theRequest, RestOperationTypeEnum.CREATE)
				&& allowedOnEvery(theRequest, RestOperationTypeEnum.CREATE, "Patient")) {
			return true; // whichever of update, create, new Patient this upload means
		}
		ImagingStudy stored = stored(theStudyUid, null); // a write is decided on the stored study as it is now
		if (stored != null) {
			return allowed(theRequest, RestOperationTypeEnum.UPDATE, stored, stored.getIdElement(), null,
					Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED);
		}
		InstanceLedger.Patient owner = myLedger.studyOwner(theStudyUid);
		if (owner == null) {
			owner = theInstancePatient;
		}
		ImagingStudy proposed = new ImagingStudy();
		proposed.setId(new IdType(STUDY, theStudyUid));
		String patientId = patientId(owner);
		if (patientId != null) {
			proposed.setSubject(new Reference(patientId));
			return allowed(theRequest, RestOperationTypeEnum.CREATE, proposed, proposed.getIdElement(), null,
					Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED);
		}
		// a new patient: the plugin creates the Patient, then the study naming it
		Patient patient = new Patient();
		patient.addIdentifier().setSystem(owner.system()).setValue(owner.value());
		return allowed(theRequest, RestOperationTypeEnum.CREATE, patient, null, null, Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
				&& allowed(theRequest, RestOperationTypeEnum.CREATE, proposed, proposed.getIdElement(), null,
						Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED);
	}

	/**
	 * The stored study (the one this request already read, if any: {@link #rememberStudy}), else
	 * (its study write is still queued) the study as it will be written,
	 * with the subject of its claimed patient; null when neither the study nor its Patient exists.
	 */
	private ImagingStudy storedOrProposed(String theStudyUid, RequestDetails theRequest) {
		ImagingStudy stored = stored(theStudyUid, theRequest);
		if (stored != null) {
			return stored;
		}
		InstanceLedger.Patient owner = myLedger.studyOwner(theStudyUid);
		String patientId = owner == null ? null : patientId(owner);
		if (patientId == null) {
			return null;
		}
		ImagingStudy proposed = new ImagingStudy();
		proposed.setId(new IdType(STUDY, theStudyUid));
		proposed.setSubject(new Reference(patientId));
		return proposed;
	}

	private ImagingStudy stored(String theStudyUid, RequestDetails theRequest) {
		@SuppressWarnings("unchecked")
		Map<String, ImagingStudy> known = theRequest == null ? null : (Map<String, ImagingStudy>) theRequest.getUserData().get(KNOWN_STUDIES);
		ImagingStudy read = known == null ? null : known.get(theStudyUid);
		if (read != null) {
			return read;
		}
		try {
			return myDaoRegistry.getResourceDao(ImagingStudy.class).read(new IdType(STUDY, theStudyUid), new SystemRequestDetails());
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	/** {@code Patient/<id>} of the one Patient with this identity; null for none (or several: the upload is refused later). */
	private String patientId(InstanceLedger.Patient thePatient) {
		try {
			String id = myPatients.idOf(thePatient.system(), thePatient.value());
			return id == null ? null : "Patient/" + id;
		} catch (PatientConflictException e) {
			return null;
		}
	}

	private boolean allowedOnEveryStudy(RequestDetails theRequest, RestOperationTypeEnum theOperation) {
		return allowedOnEvery(theRequest, theOperation, STUDY);
	}

	/**
	 * Whether every registered authorization allows the operation on every resource of the type
	 * (a SMART token's {@code system/} grant, say): then no study or patient is read to decide,
	 * which is most of what a check costs. The SMART interceptor can say so, from its token's grants
	 * ({@link TypeWideAuthorization}); any other interceptor's rules are evaluated on the resource.
	 */
	private boolean allowedOnEvery(RequestDetails theRequest, RestOperationTypeEnum theOperation, String theType) {
		List<AuthorizationInterceptor> all = authorizations();
		for (AuthorizationInterceptor authorization : all) {
			if (!(authorization instanceof TypeWideAuthorization typeWide)
					|| !typeWide.allowsEveryResourceOfType(theRequest, theOperation, theType)) {
				return false;
			}
		}
		return !all.isEmpty();
	}

	private boolean allowed(RequestDetails theRequest, RestOperationTypeEnum theOperation, IBaseResource theInput, IIdType theInputId,
			IBaseResource theOutput, Pointcut thePointcut) {
		for (AuthorizationInterceptor authorization : authorizations()) {
			AuthorizationInterceptor.Verdict verdict = authorization.applyRulesAndReturnDecision(theOperation, theRequest, theInput,
					theInputId, theOutput, thePointcut);
			if (verdict == null || verdict.getDecision() != PolicyEnum.ALLOW) {
				return false;
			}
		}
		return true;
	}

	/**
	 * Whether any ImagingStudy write could be allowed. HAPI's rules answer about a resource, not a
	 * type, so this asks about an ImagingStudy without id (rules for the type), and about one in the
	 * compartment of each owner the caller's HAPI-built rules name (compartment rules). A rule of a
	 * class this cannot look into may allow anything: then this defers to {@link #requireMayStore}.
	 */
	private boolean mayWriteSomeStudy(RequestDetails theRequest) {
		for (AuthorizationInterceptor authorization : authorizations()) {
			List<IAuthRule> rules = authorization.buildRuleList(theRequest);
			Set<IIdType> owners = new LinkedHashSet<>();
			boolean opaque = false;
			for (IAuthRule rule : rules == null ? List.<IAuthRule>of() : rules) {
				Collection<IIdType> ruleOwners = compartmentOwners(rule);
				if (ruleOwners == null) {
					opaque = true;
				} else {
					owners.addAll(ruleOwners);
				}
			}
			if (opaque) {
				continue;
			}
			List<ImagingStudy> probes = new ArrayList<>();
			probes.add(new ImagingStudy());
			for (IIdType owner : owners) {
				ImagingStudy probe = new ImagingStudy();
				probe.setSubject(new Reference(owner.toUnqualifiedVersionless().getValue()));
				probes.add(probe);
			}
			boolean any = false;
			for (ImagingStudy probe : probes) {
				for (RestOperationTypeEnum op : List.of(RestOperationTypeEnum.CREATE, RestOperationTypeEnum.UPDATE)) {
					AuthorizationInterceptor.Verdict verdict = authorization.applyRulesAndReturnDecision(op, theRequest, probe,
							new IdType(STUDY), null, Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED);
					any |= verdict != null && verdict.getDecision() == PolicyEnum.ALLOW;
				}
			}
			if (!any) {
				return false;
			}
		}
		return true;
	}

	/**
	 * The compartment owners a rule of HAPI's {@code RuleBuilder} names (none for most rules), or
	 * null for a rule this cannot look into. HAPI keeps them in a private field of its package-private
	 * {@code RuleImplOp}; should that change, every rule becomes opaque and the early refusal is skipped.
	 */
	@SuppressWarnings("unchecked")
	private static Collection<IIdType> compartmentOwners(IAuthRule theRule) {
		String pkg = AuthorizationInterceptor.class.getPackageName();
		if (!theRule.getClass().getPackageName().equals(pkg)) {
			return null; // a custom rule: anything is possible
		}
		if (!"RuleImplOp".equals(theRule.getClass().getSimpleName())) {
			return List.of(); // HAPI's other rules (operations, bulk export, ...) never allow an ImagingStudy write
		}
		try {
			Field field = theRule.getClass().getDeclaredField("myClassifierCompartmentOwners");
			field.setAccessible(true);
			Object owners = field.get(theRule);
			return owners == null ? List.of() : (Collection<IIdType>) owners;
		} catch (ReflectiveOperationException | RuntimeException e) {
			return null;
		}
	}

	private RestfulServer server() {
		RestfulServer server = myResolvedServer;
		if (server == null) {
			server = myServer.getIfAvailable();
			myResolvedServer = server;
		}
		return server;
	}

	private List<AuthorizationInterceptor> authorizations() {
		List<AuthorizationInterceptor> out = new ArrayList<>();
		RestfulServer server = server();
		if (server != null) {
			collect(server.getInterceptorService().getAllRegisteredInterceptors(), out);
		}
		collect(myJpaInterceptors.getAllRegisteredInterceptors(), out);
		return out;
	}

	private static void collect(List<Object> theInterceptors, List<AuthorizationInterceptor> theOut) {
		for (Object interceptor : theInterceptors) {
			if (interceptor instanceof AuthorizationInterceptor a && !theOut.contains(a)) {
				theOut.add(a);
			}
		}
	}

	private interface Decision {
		boolean decide();
	}

	/**
	 * Tells the access checks of this request the ImagingStudy it already read (the DICOMweb facade
	 * reads the study before its instances' Binaries; without this, the Binary's access check read
	 * it again: 15% of a rendered request's samples). Its decisions are still made by the caller's
	 * rules, on the resource as this request read it; a study the caller could not see is never
	 * in hand to be remembered.
	 */
	public static void rememberStudy(RequestDetails theRequest, ImagingStudy theStudy) {
		if (theRequest == null || theStudy == null || !theStudy.getIdElement().hasIdPart()) {
			return;
		}
		@SuppressWarnings("unchecked")
		Map<String, ImagingStudy> known = (Map<String, ImagingStudy>) theRequest.getUserData()
				.computeIfAbsent(KNOWN_STUDIES, k -> java.util.Collections.synchronizedMap(new HashMap<String, ImagingStudy>()));
		known.put(theStudy.getIdElement().getIdPart(), theStudy);
	}

	private static boolean cached(RequestDetails theRequest, String theKey, Decision theDecision) {
		@SuppressWarnings("unchecked")
		Map<String, Boolean> decisions = (Map<String, Boolean>) theRequest.getUserData()
				.computeIfAbsent(DECISIONS, k -> java.util.Collections.synchronizedMap(new HashMap<String, Boolean>()));
		Boolean known = decisions.get(theKey);
		if (known == null) {
			known = theDecision.decide();
			decisions.put(theKey, known);
		}
		return known;
	}
}
