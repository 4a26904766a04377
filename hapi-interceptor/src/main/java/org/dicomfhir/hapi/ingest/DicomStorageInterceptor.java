package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.model.DeleteConflictList;
import ca.uhn.fhir.jpa.delete.DeleteConflictOutcome;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import ca.uhn.fhir.util.OperationOutcomeUtil;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.hapi.access.DicomBinaryKind;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.config.NativeOptions;
import org.dicomfhir.hapi.studywrite.DuplicatePatientsException;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.studywrite.PatientConflictException;
import org.dicomfhir.hapi.studywrite.PatientDirectory;
import org.dicomfhir.hapi.studywrite.StudyWriteHandoff;
import org.dicomfhir.hapi.studywrite.StudyWriter;
import org.hl7.fhir.instance.model.api.IBaseOperationOutcome;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.ImagingStudy;
import jakarta.persistence.PersistenceException;
import org.springframework.dao.DataAccessException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;


/**
 * Storage hooks on the JPA interceptor service, so they fire for REST calls, transactions and
 * internal DAO writes alike. They parse every DICOM Binary in Rust before it is stored, reject bad
 * input without storing anything, and hand each accepted instance to the {@link StudyWriteHandoff}.
 *
 * <p>Order -100: we must read the bytes before HAPI's BinaryStorageInterceptor (order 0) moves them
 * to the external binary store.
 */
@Interceptor
public class DicomStorageInterceptor {

	private static final Logger ourLog = LoggerFactory.getLogger(DicomStorageInterceptor.class);
	static final String BLOB_PREFIX = "dicomfh";
	private static final String PARSED = DicomStorageInterceptor.class.getName() + ".parsed";
	private static final String EXTERNALIZED = DicomStorageInterceptor.class.getName() + ".externalized";

	/** An instance the plugin spooled, parsed and wrote to the binary store itself (STOW-RS). */
	private record Externalized(DicomInstance instance, String blobId) {}

	private final FhirContext myFhirContext;
	private final StudyWriteHandoff myHandoff;
	private final NativeOptions myOptions;
	private final BinaryBytes myBinaryBytes;
	private final DicomFhirProperties myProperties;
	private final InstanceLedger myLedger;
	private final PatientDirectory myPatients;
	private final StudyAccess myAccess;

	public DicomStorageInterceptor(
			FhirContext theFhirContext,
			StudyWriteHandoff theHandoff,
			NativeOptions theOptions,
			BinaryBytes theBinaryBytes,
			DicomFhirProperties theProperties,
			InstanceLedger theLedger,
			PatientDirectory thePatients,
			StudyAccess theAccess) {
		myAccess = theAccess;
		myFhirContext = theFhirContext;
		myHandoff = theHandoff;
		myOptions = theOptions;
		myBinaryBytes = theBinaryBytes;
		myProperties = theProperties;
		myLedger = theLedger;
		myPatients = thePatients;
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED, order = -100)
	public void binaryCreated(IBaseResource theResource, RequestDetails theRequest) {
		if (!(theResource instanceof Binary binary)) {
			return;
		}
		if (!DicomBinaryKind.isDicomContentType(binary.getContentType())) {
			requireOwnContentAddress(binary, false);
			return;
		}
		DicomInstance instance = parseOrReject(binary, theRequest);
		requireContentAddress(binary, instance, false);
		accept(binary, instance, theRequest);
	}

	/**
	 * An instance checked for its content address goes into this transaction: the caller's right to
	 * write its study checked (before anything is claimed or looked up), its SOP Instance UID
	 * claimed, its ledger row written (or refused), the Binary tagged and given its owner, and the
	 * study write queued for after the commit (indexing an instance already indexed changes nothing,
	 * and heals an interrupted earlier upload).
	 */
	private void accept(Binary theBinary, DicomInstance theInstance, RequestDetails theRequest) {
		myAccess.requireMayStore(theRequest, theInstance);
		myHandoff.claim(theInstance.sopInstanceUid(), theInstance.sha256(), theRequest);
		recordInLedger(theInstance, theRequest);
		DicomBinaryKind.tagAsDicom(theBinary);
		// The Binary belongs to its patient through its study: derived from the bytes, so whatever
		// securityContext a client sent is replaced, never trusted (docs/security.md).
		theBinary.setSecurityContext(new org.hl7.fhir.r4.model.Reference("ImagingStudy/" + theInstance.studyInstanceUid()));
		myHandoff.addAfterCommit(theRequest, theInstance);
	}

	/**
	 * HAPI's filesystem binary store puts each blob under ten directories, one per character of its
	 * id; with random ids nearly every blob creates ten new directories (in a STOW profile, mkdir
	 * took more time than the Rust parse). A DICOM Binary's blob id starts with {@link #BLOB_PREFIX} and
	 * the first three hex digits of its SHA-256, so DICOM blobs share 4,096 leaf directories.
	 */
	@Hook(Pointcut.STORAGE_BINARY_ASSIGN_BINARY_CONTENT_ID_PREFIX)
	public String dicomBlobIdPrefix(IBaseResource theResource) {
		if (theResource instanceof Binary binary && DicomBinaryKind.isDicomContentType(binary.getContentType())) {
			String id = binary.getIdElement().getIdPart();
			if (id != null && DicomBinaries.isContentAddress(id)) {
				return BLOB_PREFIX + id.substring(0, 3);
			}
		}
		return null;
	}

	/**
	 * A stored DICOM instance never changes: an update is accepted only with the identical bytes
	 * (what a re-upload is), on every write path (REST PUT and PATCH, transaction and batch entries,
	 * conditional updates, internal DAO writes all come through here).
	 */
	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED, order = -100)
	public void binaryUpdated(IBaseResource theOld, IBaseResource theNew, RequestDetails theRequest) {
		if (!(theNew instanceof Binary binary)) {
			return;
		}
		boolean wasDicom = theOld instanceof Binary old && DicomBinaryKind.isDicom(old);
		if (!DicomBinaryKind.isDicomContentType(binary.getContentType())) {
			if (wasDicom) {
				throw immutable(binary.getIdElement().getIdPart(), "its content type would become " + binary.getContentType());
			}
			requireOwnContentAddress(binary, theOld != null);
			return;
		}
		if (wasDicom && binary.getContent() == null && externalizedBySelf(binary, theRequest) == null) {
			throw immutable(binary.getIdElement().getIdPart(), "the update carries no bytes in Binary.data");
		}
		DicomInstance instance = parseOrReject(binary, theRequest);
		requireContentAddress(binary, instance, wasDicom);
		// Same id means same bytes (checked above). HAPI's BinaryStorageInterceptor reuses the stored
		// blob of identical content, so with the same tag the update is a no-op: no new version.
		accept(binary, instance, theRequest);
	}

	@Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
	public void resourceDeleted(IBaseResource theResource, RequestDetails theRequest) {
		if (theResource instanceof ImagingStudy study) {
			refuseDeletingAListingStudy(study, theRequest);
			return;
		}
		if (!(theResource instanceof Binary binary) || !DicomBinaryKind.isDicom(binary)) {
			return;
		}
		String binaryId = binary.getIdElement().getIdPart();
		InstanceLedger.Row row = myLedger.findByBinary(binaryId, StudyAccess.securityContextStudy(binary));
		if (row != null) {
			// The ledger knows the instance: no need to read (possibly missing) bytes.
			myLedger.markRemoving(row.sopInstanceUid(), binaryId);
			myHandoff.removeAfterCommit(theRequest, StudyWriter.Change.remove(row.studyInstanceUid(), row.sopInstanceUid(), binaryId));
			return;
		}
		byte[] bytes = myBinaryBytes.read(binary);
		if (bytes == null) {
			ourLog.warn("Binary/{} is deleted but its bytes are gone and no ledger row names it: its ImagingStudy entry stays", binaryId);
			return;
		}
		try {
			DicomInstance instance = DicomInstance.parse(bytes, myOptions.derive());
			myHandoff.removeAfterCommit(theRequest,
					StudyWriter.Change.remove(instance.studyInstanceUid(), instance.sopInstanceUid(), instance.sha256()));
		} catch (DicomException e) {
			ourLog.warn("Binary/{} is deleted but cannot be parsed: {}", binaryId, e.getMessage());
		}
	}

	/**
	 * An ImagingStudy the plugin derived lists DICOM Binaries; deleting it alone would leave them
	 * stored and listed nowhere. Its instances are deleted instead (the study goes with the last).
	 */
	private void refuseDeletingAListingStudy(ImagingStudy theStudy, RequestDetails theRequest) {
		if (theRequest != null && theRequest.getUserData().get(StudyWriter.WRITER) != null) {
			return; // the writer deletes a study once it lists nothing
		}
		String uid = theStudy.getIdElement().getIdPart();
		if (uid != null && myLedger.studyHasInstances(uid)) {
			throw new ResourceVersionConflictException("ImagingStudy/" + uid + " lists DICOM instances stored as Binaries;"
					+ " deleting the study alone would leave them stored and listed nowhere. Delete its instances instead:"
					+ " DELETE [base]/" + myProperties.getDicomwebPath() + "/studies/" + uid
					+ " (or DELETE each Binary/<sha256> it lists); the ImagingStudy is deleted with its last instance.");
		}
	}

	/**
	 * Lineage may outlive what it describes: a Provenance pointing at a deleted DICOM Binary or at a
	 * derived ImagingStudy does not block the deletion.
	 */
	@Hook(Pointcut.STORAGE_PRESTORAGE_DELETE_CONFLICTS)
	public DeleteConflictOutcome allowDeletingWhatProvenanceDescribes(DeleteConflictList theConflicts) {
		theConflicts.removeIf(conflict -> "Provenance".equals(conflict.getSourceId().getResourceType())
				&& (("Binary".equals(conflict.getTargetId().getResourceType())
								&& DicomBinaries.isContentAddress(conflict.getTargetId().getIdPart()))
						|| "ImagingStudy".equals(conflict.getTargetId().getResourceType())));
		return null;
	}

	/**
	 * Parses bytes about to be stored in this request as a Binary (a STOW-RS part, checked before
	 * anything is stored) and keeps the result for the storage hooks, which then do not parse the
	 * same byte array again (the parse was 12% of a STOW request's native time), until
	 * {@link #forgetParsed}.
	 */
	public DicomInstance parseForStorage(byte[] theBytes, RequestDetails theRequest) throws DicomException {
		DicomInstance instance = DicomInstance.parse(theBytes, myOptions.derive());
		@SuppressWarnings("unchecked")
		Map<byte[], DicomInstance> parsed = (Map<byte[], DicomInstance>) theRequest.getUserData()
				.computeIfAbsent(PARSED, k -> Collections.synchronizedMap(new IdentityHashMap<byte[], DicomInstance>()));
		parsed.put(theBytes, instance);
		return instance;
	}

	/** Parses bytes (e.g. a direct buffer mapping a spooled STOW-RS part) with the storage options; nothing is kept. */
	public DicomInstance parse(java.nio.ByteBuffer theBytes) throws DicomException {
		return DicomInstance.parse(theBytes, myOptions.derive());
	}

	/**
	 * Declares that this request stores {@code Binary/<sha256>} of an instance whose bytes the
	 * caller (STOW-RS) spooled, parsed ({@code theInstance}, whose SHA-256 it checked against the
	 * spooled bytes) and wrote to HAPI's binary store as {@code theBlobId}. The storage hooks then
	 * accept that Binary without Binary.data, carrying instead the externalized-binary-id extension
	 * with that blob id, marked system-defined (a Java flag no client request can set), and check
	 * and record it exactly as one with its bytes inline. Kept until {@link #forgetParsed}.
	 */
	public void expectExternalized(RequestDetails theRequest, DicomInstance theInstance, String theBlobId) {
		@SuppressWarnings("unchecked")
		Map<String, Externalized> expected = (Map<String, Externalized>) theRequest.getUserData()
				.computeIfAbsent(EXTERNALIZED, k -> new java.util.concurrent.ConcurrentHashMap<String, Externalized>());
		expected.put(theInstance.sha256(), new Externalized(theInstance, theBlobId));
	}

	/** Drops what {@link #parseForStorage} and {@link #expectExternalized} kept for this request. */
	public void forgetParsed(RequestDetails theRequest) {
		theRequest.getUserData().remove(PARSED);
		theRequest.getUserData().remove(EXTERNALIZED);
	}

	/**
	 * The instance of a Binary without inline bytes that this request's own STOW-RS externalized
	 * ({@link #expectExternalized}): same id, same blob id, extension marked system-defined. Null
	 * for anything else, in particular for a client's Binary naming a blob.
	 */
	private static DicomInstance externalizedBySelf(Binary theBinary, RequestDetails theRequest) {
		if (theRequest == null || !(theRequest.getUserData().get(EXTERNALIZED) instanceof Map<?, ?> expected)) {
			return null;
		}
		if (!(expected.get(theBinary.getIdElement().getIdPart()) instanceof Externalized e)) {
			return null;
		}
		org.hl7.fhir.r4.model.Extension ext = theBinary.getDataElement()
				.getExtensionByUrl(ca.uhn.fhir.util.HapiExtensions.EXT_EXTERNALIZED_BINARY_ID);
		if (ext == null || ext.getValue() == null
				|| !Boolean.TRUE.equals(ext.getUserData(ca.uhn.fhir.jpa.model.util.JpaConstants.EXTENSION_EXT_SYSTEMDEFINED))
				|| !e.blobId().equals(ext.getValue().primitiveValue())) {
			return null;
		}
		return e.instance();
	}

	private DicomInstance parseOrReject(Binary theBinary, RequestDetails theRequest) {
		byte[] bytes = theBinary.getContent();
		if (bytes == null || bytes.length == 0) {
			DicomInstance spooled = externalizedBySelf(theBinary, theRequest);
			if (spooled != null) {
				return spooled; // parsed from the spooled bytes, whose SHA-256 the caller checked
			}
			throw new InvalidRequestException("A DICOM Binary must carry the DICOM bytes in Binary.data");
		}
		if (theRequest != null && theRequest.getUserData().get(PARSED) instanceof Map<?, ?> parsed
				&& parsed.get(bytes) instanceof DicomInstance instance) {
			return instance; // the same array, parsed with the same options
		}
		try {
			return DicomInstance.parse(bytes, myOptions.derive());
		} catch (DicomException e) {
			throw new UnprocessableEntityException(myFhirContext, outcome("Not a valid DICOM instance: " + e.getMessage()));
		}
	}

	/**
	 * Records the instance in the ledger, in this transaction. Refuses other bytes under a SOP
	 * Instance UID already stored (DICOM instances are immutable), an instance whose patient is
	 * not its study's (a new study is claimed for its patient in the database, so this holds
	 * across nodes), and a new study whose patient identity more than one FHIR Patient claims.
	 */
	private void recordInLedger(DicomInstance theInstance, RequestDetails theRequest) {
		InstanceLedger.Patient patient = InstanceLedger.Patient.of(theInstance);
		try {
			if (myLedger.insertPendingIntoClaimedStudy(theInstance.sopInstanceUid(), theInstance.studyInstanceUid(),
					theInstance.sha256(), patient.system(), patient.value(), theInstance.qidoIndex())) {
				return; // a new instance of a study claimed for its patient: the common case, one statement
			}
		} catch (PersistenceException | DataAccessException e) {
			throw concurrentClaimOr(e, theInstance);
		}
		InstanceLedger.Lookup found = myLedger.lookup(theInstance.sopInstanceUid(), theInstance.studyInstanceUid());
		InstanceLedger.Row existing = found.sameInstance();
		boolean live = existing != null && existing.state() != InstanceLedger.State.REMOVING;
		if (live && existing.binaryId().equals(theInstance.sha256())) {
			return; // the same instance again
		}
		if (live && !myProperties.isReplaceInstances()) {
			// The stored Binary's id (its SHA-256) is named to the system only: a caller may not be
			// allowed to read that instance.
			ourLog.info("SOP Instance {} refused: already stored as Binary/{}", theInstance.sopInstanceUid(), existing.binaryId());
			throw new ResourceVersionConflictException("SOP Instance " + theInstance.sopInstanceUid()
					+ " is already stored with other bytes" + (StudyAccess.isSystem(theRequest) ? " (Binary/" + existing.binaryId() + ")" : "")
					+ "; DICOM instances are immutable. " + HOW_TO_CORRECT);
		}
		InstanceLedger.Patient studyPatient = found.studyPatient();
		if (studyPatient != null && !studyPatient.equals(patient)) {
			throw patientConflict(theInstance, studyPatient, patient, "belongs to", theRequest);
		}
		if (!found.studyClaimed()) {
			if (studyPatient == null) {
				requireAtMostOnePatient(theInstance, patient, theRequest);
			}
			// Waits for another upload's uncommitted claim of this study (on any node), then compares.
			InstanceLedger.Patient holder = myLedger.claimStudy(theInstance.studyInstanceUid(), patient.system(), patient.value());
			if (holder == null) {
				throw new ResourceVersionConflictException("Study " + theInstance.studyInstanceUid()
						+ " is being stored right now by another request; send SOP Instance " + theInstance.sopInstanceUid() + " again.");
			}
			if (!holder.equals(patient)) {
				throw patientConflict(theInstance, holder, patient, "was just stored for", theRequest);
			}
		}
		try {
			if (existing == null) {
				myLedger.insertPending(theInstance.sopInstanceUid(), theInstance.studyInstanceUid(), theInstance.sha256(),
						patient.system(), patient.value(), theInstance.qidoIndex());
			} else {
				myLedger.repoint(theInstance.sopInstanceUid(), theInstance.studyInstanceUid(), theInstance.sha256(),
						patient.system(), patient.value(), theInstance.qidoIndex());
			}
		} catch (PersistenceException | DataAccessException e) {
			throw concurrentClaimOr(e, theInstance);
		}
	}

	/** A 409 for a ledger write that lost to another transaction on the same SOP Instance UID; any other error as it is. */
	private static RuntimeException concurrentClaimOr(RuntimeException theError, DicomInstance theInstance) {
		if (!isConcurrentClaim(theError)) {
			return theError;
		}
		return new ResourceVersionConflictException("SOP Instance " + theInstance.sopInstanceUid()
				+ " is being stored right now by another request; if these are the same bytes, send them again."
				+ " DICOM instances are immutable. " + HOW_TO_CORRECT);
	}

	/**
	 * An instance naming another patient than its study's. The study's patient identity is named to
	 * a caller who may read the study and that Patient only (one allowed to write but not read them
	 * learns nothing it may not read); the operator gets the whole of it in the log. The instance's
	 * own identity is the caller's, from the bytes it sent.
	 */
	private PatientConflictException patientConflict(DicomInstance theInstance, InstanceLedger.Patient theStudys,
			InstanceLedger.Patient theInstances, String theHow, RequestDetails theRequest) {
		String study = "Study " + theInstance.studyInstanceUid() + " " + theHow + " ";
		String rest = ", but SOP Instance " + theInstance.sopInstanceUid() + " names " + theInstances
				+ ": every instance of a study must name the same patient. Correct the instance's PatientID"
				+ " (and IssuerOfPatientID) or its StudyInstanceUID before storing it.";
		ourLog.info("Patient conflict refused (409): {}", oneLine(study + theStudys + rest));
		return new PatientConflictException(study
				+ (myAccess.mayReadPatientOf(theRequest, theInstance.studyInstanceUid(), theStudys) ? theStudys : "another patient") + rest);
	}

	/** A log line stays one line whatever a file's PatientID holds (control characters become {@code ?}). */
	private static String oneLine(String theText) {
		return theText.replaceAll("\\p{Cntrl}", "?");
	}

	/**
	 * A new study's patient identity claimed by several FHIR Patients: refused, naming the Patients
	 * to a caller who may read them all, the identity alone to others (the log has both).
	 */
	private void requireAtMostOnePatient(DicomInstance theInstance, InstanceLedger.Patient thePatient, RequestDetails theRequest) {
		try {
			myPatients.requireAtMostOne(thePatient.system(), thePatient.value());
		} catch (DuplicatePatientsException e) {
			ourLog.info("Patient conflict refused (409) for SOP Instance {}: {}", oneLine(theInstance.sopInstanceUid()), oneLine(e.getMessage()));
			throw myAccess.mayReadPatients(theRequest, e.patientIds()) ? e : e.withoutPatientIds();
		}
	}

	/**
	 * Whether a failed ledger write lost to another transaction writing the same SOP Instance UID:
	 * a unique violation (SQLState class 23), or a lock wait on that transaction's uncommitted row
	 * that timed out (H2: HYT00) or was chosen to fail (class 40). Anything else is not a conflict.
	 */
	private static boolean isConcurrentClaim(Throwable theError) {
		for (Throwable t = theError; t != null; t = t.getCause()) {
			if (t instanceof java.sql.SQLException sql && sql.getSQLState() != null) {
				return InstanceLedger.isKeyConflict(sql);
			}
		}
		return false;
	}

	static final String HOW_TO_CORRECT = "To correct an instance, store the corrected one under a new SOP Instance UID,"
			+ " then delete the old one (DELETE [base]/Binary/<sha256>).";

	private ResourceVersionConflictException immutable(String theId, String theWhy) {
		return new ResourceVersionConflictException("Binary/" + theId + " is a stored DICOM instance and cannot change ("
				+ theWhy + "): DICOM instances are immutable. " + HOW_TO_CORRECT);
	}

	/**
	 * A Binary id of 64 hex digits is a content address: whatever the content type, the bytes
	 * stored under it are the ones whose SHA-256 it is.
	 */
	private void requireOwnContentAddress(Binary theBinary, boolean theExisted) {
		String id = theBinary.getIdElement().getIdPart();
		if (!DicomBinaries.isContentAddress(id)) {
			return;
		}
		if (theBinary.getContent() == null || !id.equals(DicomBinaries.contentAddress(theBinary.getContent()))) {
			String message = "Binary/" + id + " is a content address: it holds only the bytes whose SHA-256 is " + id + ".";
			throw theExisted ? new ResourceVersionConflictException(message + " " + HOW_TO_CORRECT) : new InvalidRequestException(message);
		}
	}

	private void requireContentAddress(Binary theBinary, DicomInstance theInstance, boolean theStoredDicom) {
		String id = theBinary.getIdElement().getIdPart();
		if (theInstance.sha256().equals(id)) {
			return;
		}
		if (theStoredDicom) {
			throw immutable(id, "the update carries other bytes, whose SHA-256 is " + theInstance.sha256());
		}
		throw new InvalidRequestException("DICOM Binaries are content-addressed: the id of these bytes is "
				+ theInstance.sha256() + " (their SHA-256), not " + (id == null ? "a server-assigned id" : id)
				+ ". POST them to /Binary or PUT them to /Binary/" + theInstance.sha256() + ".");
	}

	private IBaseOperationOutcome outcome(String theMessage) {
		IBaseOperationOutcome oo = OperationOutcomeUtil.newInstance(myFhirContext);
		OperationOutcomeUtil.addIssue(myFhirContext, oo, "error", theMessage, "Binary.data", "invalid");
		return oo;
	}
}
