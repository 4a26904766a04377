package org.dicomfhir.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.model.DeleteConflictList;
import ca.uhn.fhir.jpa.delete.DeleteConflictOutcome;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.IBundleProvider;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import ca.uhn.fhir.util.OperationOutcomeUtil;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.hl7.fhir.instance.model.api.IBaseOperationOutcome;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;


/**
 * Storage hooks on the JPA interceptor service, so they fire for REST calls, transactions and
 * internal DAO writes alike. They parse every DICOM Binary in Rust before it is stored, reject bad
 * input without storing anything, and hand each accepted instance to the {@link StudyIndex}.
 *
 * <p>Order -100: we must read the bytes before HAPI's BinaryStorageInterceptor (order 0) moves them
 * to the external binary store.
 */
@Interceptor
public class DicomStorageInterceptor {

	private static final Logger ourLog = LoggerFactory.getLogger(DicomStorageInterceptor.class);
	static final String TAG_SYSTEM = "http://dicomfhir.org/fhir/CodeSystem/tags";
	static final String TAG_DICOM = "dicom";
	static final String BLOB_PREFIX = "dicomfh";
	private static final String PARSED = DicomStorageInterceptor.class.getName() + ".parsed";

	private final FhirContext myFhirContext;
	private final StudyIndex myStudyIndex;
	private final NativeOptions myOptions;
	private final BinaryBytes myBinaryBytes;
	private final DaoRegistry myDaoRegistry;
	private final DicomFhirProperties myProperties;
	private final SopInstanceIndex mySopInstances;

	public DicomStorageInterceptor(
			FhirContext theFhirContext,
			StudyIndex theStudyIndex,
			NativeOptions theOptions,
			BinaryBytes theBinaryBytes,
			DaoRegistry theDaoRegistry,
			DicomFhirProperties theProperties,
			SopInstanceIndex theSopInstances) {
		myFhirContext = theFhirContext;
		myStudyIndex = theStudyIndex;
		myOptions = theOptions;
		myBinaryBytes = theBinaryBytes;
		myDaoRegistry = theDaoRegistry;
		myProperties = theProperties;
		mySopInstances = theSopInstances;
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED, order = -100)
	public void binaryCreated(IBaseResource theResource, RequestDetails theRequest) {
		if (!(theResource instanceof Binary binary) || !DicomBinaries.isDicomContentType(binary.getContentType())) {
			return;
		}
		DicomInstance instance = parseOrReject(binary, theRequest);
		requireContentAddress(binary, instance);
		myStudyIndex.claim(instance.sopInstanceUid(), instance.sha256(), theRequest);
		rejectOtherBytesForSameInstance(instance, theRequest);
		binary.getMeta().addTag(TAG_SYSTEM, TAG_DICOM, "DICOM instance");
		myStudyIndex.addAfterCommit(theRequest, instance);
	}

	/**
	 * HAPI's filesystem binary store puts each blob under ten directories, one per character of its
	 * id; with random ids nearly every blob creates ten new directories (in a STOW profile, mkdir
	 * took more time than the Rust parse). A DICOM Binary's blob id starts with {@link #BLOB_PREFIX} and
	 * the first three hex digits of its SHA-256, so DICOM blobs share 4,096 leaf directories.
	 */
	@Hook(Pointcut.STORAGE_BINARY_ASSIGN_BINARY_CONTENT_ID_PREFIX)
	public String dicomBlobIdPrefix(IBaseResource theResource) {
		if (theResource instanceof Binary binary && DicomBinaries.isDicomContentType(binary.getContentType())) {
			String id = binary.getIdElement().getIdPart();
			if (id != null && DicomBinaries.isContentAddress(id)) {
				return BLOB_PREFIX + id.substring(0, 3);
			}
		}
		return null;
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED, order = -100)
	public void binaryUpdated(IBaseResource theOld, IBaseResource theNew, RequestDetails theRequest) {
		if (!(theNew instanceof Binary binary) || !DicomBinaries.isDicomContentType(binary.getContentType())) {
			return;
		}
		DicomInstance instance = parseOrReject(binary, theRequest);
		requireContentAddress(binary, instance);
		// Same id means same bytes (checked above). HAPI's BinaryStorageInterceptor reuses the stored
		// blob of identical content, so with the same tag the update is a no-op: no new version.
		binary.getMeta().addTag(TAG_SYSTEM, TAG_DICOM, "DICOM instance");
		// Indexing an instance already indexed changes nothing, and heals an interrupted earlier upload.
		myStudyIndex.addAfterCommit(theRequest, instance);
	}

	@Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
	public void binaryDeleted(IBaseResource theResource, RequestDetails theRequest) {
		if (!(theResource instanceof Binary binary) || !DicomBinaries.isDicomContentType(binary.getContentType())) {
			return;
		}
		byte[] bytes = myBinaryBytes.read(binary);
		if (bytes == null) {
			ourLog.warn("Binary/{} is deleted but its bytes are gone: its ImagingStudy entry stays", binary.getIdElement().getIdPart());
			return;
		}
		try {
			myStudyIndex.removeAfterCommit(theRequest, DicomInstance.parse(bytes, myOptions.derive()));
		} catch (DicomException e) {
			ourLog.warn("Binary/{} is deleted but cannot be parsed: {}", binary.getIdElement().getIdPart(), e.getMessage());
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

	/**
	 * Claims an instance's SOP Instance UID in the running transaction before its index is checked
	 * for many parts at once ({@link SopInstanceIndex#checkAll}): checked first, an upload of other
	 * bytes whose study write finished between the check and the claim would go unseen. Throws
	 * {@link ResourceVersionConflictException} when another request is storing other bytes under it.
	 */
	public void claim(DicomInstance theInstance, RequestDetails theRequest) {
		myStudyIndex.claim(theInstance.sopInstanceUid(), theInstance.sha256(), theRequest);
	}

	/** Drops what {@link #parseForStorage} kept for this request. */
	public void forgetParsed(RequestDetails theRequest) {
		theRequest.getUserData().remove(PARSED);
	}

	private DicomInstance parseOrReject(Binary theBinary, RequestDetails theRequest) {
		if (!theBinary.hasData()) {
			throw new InvalidRequestException("A DICOM Binary must carry the DICOM bytes in Binary.data");
		}
		byte[] bytes = theBinary.getContent();
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
	 * DICOM instances are immutable: other bytes under a SOP Instance UID already stored are a
	 * conflict, not an update (unless the operator allows replacing).
	 */
	private void rejectOtherBytesForSameInstance(DicomInstance theInstance, RequestDetails theRequest) {
		if (myProperties.isReplaceInstances()) {
			return;
		}
		IFhirResourceDao<ImagingStudy> studyDao = myDaoRegistry.getResourceDao(ImagingStudy.class);
		SystemRequestDetails request = new SystemRequestDetails();
		// Almost every upload is a new instance: an index lookup answers that without loading a
		// (possibly large) ImagingStudy; only a hit is read and compared.
		if (!mySopInstances.mayBeListed(theInstance.sopInstanceUid(), theRequest)
				|| studyDao.searchForIds(studiesListing(theInstance), request).isEmpty()) {
			return;
		}
		IBundleProvider found = studyDao.search(studiesListing(theInstance), request);
		for (IBaseResource resource : found.getResources(0, 10)) {
			String stored = storedBinaryId((ImagingStudy) resource, theInstance.sopInstanceUid());
			if (stored != null && !stored.equals(theInstance.sha256())) {
				throw new ResourceVersionConflictException("SOP Instance " + theInstance.sopInstanceUid()
						+ " is already stored with other bytes (Binary/" + stored + "); DICOM instances are immutable."
						+ " Delete that Binary first, or set dicomfhir.replace-instances=true.");
			}
		}
	}

	private static SearchParameterMap studiesListing(DicomInstance theInstance) {
		return SearchParameterMap.newSynchronous(ImagingStudy.SP_INSTANCE, new TokenParam(theInstance.sopInstanceUid()));
	}

	private static String storedBinaryId(ImagingStudy theStudy, String theSopInstanceUid) {
		for (ImagingStudy.ImagingStudySeriesComponent series : theStudy.getSeries()) {
			for (ImagingStudy.ImagingStudySeriesInstanceComponent instance : series.getInstance()) {
				if (theSopInstanceUid.equals(instance.getUid())) {
					Extension binary = instance.getExtensionByUrl(ConformanceResources.INSTANCE_BINARY);
					if (binary != null && binary.getValue() instanceof Reference ref && ref.getReferenceElement().hasIdPart()) {
						return ref.getReferenceElement().getIdPart();
					}
				}
			}
		}
		return null;
	}

	private void requireContentAddress(Binary theBinary, DicomInstance theInstance) {
		String id = theBinary.getIdElement().getIdPart();
		if (!theInstance.sha256().equals(id)) {
			throw new InvalidRequestException("DICOM Binaries are content-addressed: the id of these bytes is "
					+ theInstance.sha256() + " (their SHA-256), not " + (id == null ? "a server-assigned id" : id)
					+ ". POST them to /Binary or PUT them to /Binary/" + theInstance.sha256() + ".");
		}
	}

	private IBaseOperationOutcome outcome(String theMessage) {
		IBaseOperationOutcome oo = OperationOutcomeUtil.newInstance(myFhirContext);
		OperationOutcomeUtil.addIssue(myFhirContext, oo, "error", theMessage, "Binary.data", "invalid");
		return oo;
	}
}
