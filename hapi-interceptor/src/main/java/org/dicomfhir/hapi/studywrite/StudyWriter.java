package org.dicomfhir.hapi.studywrite;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.model.RequestPartitionId;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.api.model.DaoMethodOutcome;
import ca.uhn.fhir.jpa.api.svc.IIdHelperService;
import ca.uhn.fhir.jpa.api.svc.ResolveIdentityMode;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.api.server.storage.TransactionDetails;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.parser.IParser;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.bridge.DicomStudies;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.config.EndpointAddress;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.ConcurrencyFailureException;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.util.ArrayList;
import java.time.Duration;
import java.util.Collections;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes ImagingStudy resources with group commit ({@link StudyWriteQueue} schedules the batches): while one write of a study is running (and, for
 * deferred writes, for a short linger after it), every change that arrives for that study waits and
 * goes into the next write together. Each write costs O(study size) in HAPI (the whole resource is
 * encoded, hashed, scanned and re-indexed), so batch size must grow with it: with deferred writes
 * the next batch holds everything that arrived during the previous write, which keeps the total
 * cost of a study linear even for one sequential uploader.
 *
 * <p>Each write is one database transaction: merge (in Rust) into the study as last written (a
 * small cache saves re-reading it), versioned update, Provenance. Another writer (another node, a
 * FHIR client editing the study) makes the versioned update fail; the write is then retried from a
 * fresh read, so the result is right whatever the interleaving.
 */
public class StudyWriter {

	private static final Logger ourLog = LoggerFactory.getLogger(StudyWriter.class);
	private static final String ENDPOINT_IDENTIFIER_SYSTEM = "http://dicomfhir.org/fhir/NamingSystem/dicomweb-endpoint";
	/** Marks the writer's own requests (its ImagingStudy deletes are not a client's). */
	public static final String WRITER = StudyWriter.class.getName();

	/** One instance added to or removed from its study. */
	public record Change(String studyUid, String sopInstanceUid, String binaryId, String fragmentJson, String patientJson,
			String patientSystem, String patientValue) {
		public static Change add(DicomInstance theInstance) {
			InstanceLedger.Patient patient = InstanceLedger.Patient.of(theInstance);
			return new Change(theInstance.studyInstanceUid(), theInstance.sopInstanceUid(), theInstance.sha256(),
					theInstance.imagingStudyJson(), theInstance.patientJson(), patient.system(), patient.value());
		}

		public static Change remove(String theStudyUid, String theSopInstanceUid, String theBinaryId) {
			return new Change(theStudyUid, theSopInstanceUid, theBinaryId, null, null, null, null);
		}

		boolean isAdd() {
			return fragmentJson != null;
		}
	}

	/** An ImagingStudy as this node last wrote it: the JSON merged into and the version it got. */
	private record CachedStudy(String versionId, String json) {}

	private static final int CACHED_STUDIES = 32;

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;
	private final IHapiTransactionService myTransactionService;
	private final IIdHelperService<?> myIdHelper;
	private final DicomFhirProperties myProperties;
	private final StudyWriteQueue myQueue;
	private final Map<String, String> myEndpointIds = new ConcurrentHashMap<>();
	private final AtomicInteger myWriteCount = new AtomicInteger();
	/** Studies written recently, least recently used first; stale entries fail the versioned update. */
	private final Map<String, CachedStudy> myStudyCache = Collections.synchronizedMap(
			new LinkedHashMap<>(16, 0.75f, true) {
				@Override
				protected boolean removeEldestEntry(Map.Entry<String, CachedStudy> theEldest) {
					return size() > CACHED_STUDIES;
				}
			});
	private final InstanceLedger myLedger;
	private final PatientDirectory myPatients;
	private final EndpointAddress myEndpointAddress;
	/** Studies whose last write failed for good (for the operator's status). */
	private final AtomicInteger myFailedWrites = new AtomicInteger();

	public StudyWriter(
			FhirContext theFhirContext,
			DaoRegistry theDaoRegistry,
			IHapiTransactionService theTransactionService,
			DicomFhirProperties theProperties,
			IIdHelperService<?> theIdHelper,
			InstanceLedger theLedger,
			PatientDirectory thePatients,
			EndpointAddress theEndpointAddress) {
		myLedger = theLedger;
		myPatients = thePatients;
		myEndpointAddress = theEndpointAddress;
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
		myTransactionService = theTransactionService;
		myProperties = theProperties;
		myIdHelper = theIdHelper;
		myQueue = new StudyWriteQueue(theProperties, new StudyWriteQueue.BatchWriter() {
			@Override
			public void write(String theStudyUid, List<Change> theChanges) {
				writeWithRetry(theStudyUid, theChanges);
			}

			@Override
			public void failed(String theStudyUid, List<Change> theChanges, RuntimeException theError) {
				myStudyCache.remove(theStudyUid);
				recordFailure(theStudyUid, theChanges, theError);
			}
		});
	}

	/** Number of ImagingStudy writes so far (for tests and metrics: batching shows as fewer writes). */
	public int writeCount() {
		return myWriteCount.get();
	}

	/**
	 * Read barrier for deferred writes: waits until every change submitted before this call is
	 * written (or has failed), cutting short the linger of the writers it waits for. Returns false
	 * if that took longer than the timeout.
	 */
	boolean awaitSubmitted(Duration theTimeout) {
		return myQueue.awaitSubmitted(theTimeout);
	}

	/**
	 * Takes these instances (SOP Instance UID → Binary id) out of their study now, whatever their
	 * bytes: for entries whose Binary or blob is gone, which the Binary delete hook cannot name.
	 * Their ledger rows go with the study write. Waits for the write (bounded by the study write
	 * timeout); a failure is thrown.
	 */
	public void removeNow(String theStudyUid, Map<String, String> theBinaryBySop) {
		myTransactionService.withSystemRequest().execute(() -> {
			theBinaryBySop.forEach(myLedger::markRemoving);
			return null;
		});
		List<Change> removals = new ArrayList<>();
		theBinaryBySop.forEach((sop, binary) -> removals.add(Change.remove(theStudyUid, sop, binary)));
		try {
			submit(removals).get(myProperties.getStudyWriteTimeoutSeconds(), TimeUnit.SECONDS);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException("interrupted while removing instances of study " + theStudyUid, e);
		} catch (ExecutionException | TimeoutException e) {
			throw new IllegalStateException("could not remove instances of study " + theStudyUid + ": " + e.getMessage(), e);
		}
	}

	/** Study writes that failed for good since start-up. */
	public int failedWriteCount() {
		return myFailedWrites.get();
	}

	/** Queues the changes; the future completes when every study they touch has been written. */
	public CompletableFuture<Void> submit(List<Change> theChanges) {
		return myQueue.submit(theChanges);
	}

	/**
	 * A study write that failed after its retries: each instance it would have listed is marked
	 * FAILED in the ledger with the reason (the reconciler tries again later; the operator sees
	 * them in {@code $dicom-status}), and an ERROR names them. Other studies go on.
	 */
	private void recordFailure(String theStudyUid, List<Change> theChanges, RuntimeException theError) {
		myFailedWrites.incrementAndGet();
		List<String> added = theChanges.stream().filter(Change::isAdd).map(Change::sopInstanceUid).toList();
		String reason = theError.getMessage() == null ? theError.toString() : theError.getMessage();
		ourLog.error("Writing ImagingStudy {} failed; {} instance(s) stay unlisted until it succeeds ({}): {}", theStudyUid,
				added.size(), added.size() <= 10 ? added : added.subList(0, 10) + " ...", reason, theError);
		try {
			myTransactionService.withSystemRequest().withPropagation(org.springframework.transaction.annotation.Propagation.REQUIRES_NEW)
					.execute(() -> myLedger.markFailed(added, reason));
		} catch (RuntimeException e) {
			ourLog.error("Could not record the failure of ImagingStudy {} in the ledger: {}", theStudyUid, e.toString());
		}
	}

	private void writeWithRetry(String theStudyUid, List<Change> theChanges) {
		int maxRetries = myProperties.getStudyWriteMaxRetries();
		for (int attempt = 0; ; attempt++) {
			try {
				myTransactionService.withSystemRequest().execute(() -> writeOnce(theStudyUid, theChanges));
				return;
			} catch (ResourceVersionConflictException
					| PreconditionFailedException
					| ConcurrencyFailureException
					| DataIntegrityViolationException e) {
				if (attempt >= maxRetries) {
					throw e;
				}
				myStudyCache.remove(theStudyUid);
				ourLog.debug("ImagingStudy {} changed under us (attempt {}): {}", theStudyUid, attempt + 1, e.toString());
				sleepBeforeRetry(attempt);
			}
		}
	}

	private void writeOnce(String theStudyUid, List<Change> theChanges) {
		SystemRequestDetails request = new SystemRequestDetails();
		request.getUserData().put(WRITER, Boolean.TRUE);
		IFhirResourceDao<ImagingStudy> studyDao = myDaoRegistry.getResourceDao(ImagingStudy.class);
		IParser parser = myFhirContext.newJsonParser();
		IdType studyId = new IdType("ImagingStudy", studyResourceId(theStudyUid));

		CachedStudy cached = myStudyCache.get(theStudyUid);
		String existingJson;
		String existingVersion;
		if (cached != null) {
			existingJson = cached.json();
			existingVersion = cached.versionId();
		} else {
			ImagingStudy existing = readIfPresent(studyDao, studyId, request);
			existingJson = existing == null ? null : parser.encodeResourceToString(existing);
			existingVersion = existing == null ? null : existing.getIdElement().getVersionIdPart();
		}

		List<String> fragments = new ArrayList<>();
		Set<String> removed = new LinkedHashSet<>();
		List<Change> added = new ArrayList<>();
		for (Change change : theChanges) {
			if (change.isAdd()) {
				fragments.add(change.fragmentJson());
				removed.remove(change.sopInstanceUid());
				added.add(change);
			} else {
				removed.add(change.sopInstanceUid());
				added.removeIf(c -> c.sopInstanceUid().equals(change.sopInstanceUid()));
			}
		}
		refuseOtherPatients(theStudyUid, added, fragments);
		// The ledger moves in the same transaction as the study: listed exactly when the study lists them.
		if (!added.isEmpty()) {
			myLedger.markListed(added.stream().map(Change::sopInstanceUid).toList(), added.stream().map(Change::binaryId).toList());
		}
		if (!removed.isEmpty()) {
			myLedger.removeRemoved(removed);
			myLedger.releaseStudyIfEmpty(theStudyUid);
		}
		String mergedJson = existingJson;
		if (!fragments.isEmpty()) {
			mergedJson = DicomStudies.merge(existingJson, fragments);
		}
		if (!removed.isEmpty() && mergedJson != null) {
			mergedJson = DicomStudies.removeInstances(mergedJson, removed).orElse(null);
		}
		if (mergedJson == null) {
			if (existingJson != null) {
				myStudyCache.remove(theStudyUid);
				studyDao.delete(studyId.withVersion(existingVersion), request);
				myWriteCount.incrementAndGet();
			}
			return;
		}
		if (mergedJson.equals(existingJson)) {
			if (cached != null) {
				// Nothing to write only if the copy is current (it is stale if the study was edited
				// since): decide on a fresh read. Rare: re-sent bytes and reconciliation.
				myStudyCache.remove(theStudyUid);
				writeOnce(theStudyUid, theChanges);
			}
			return; // every instance was already listed: nothing to write
		}

		ImagingStudy merged = parser.parseResource(ImagingStudy.class, mergedJson);
		boolean completed = false; // anything set here is not in mergedJson
		if (!merged.hasSubject() && !added.isEmpty()) {
			Change first = added.get(0);
			merged.setSubject(new Reference(myPatients.ensure(first.patientSystem(), first.patientValue(), first.patientJson(), request)));
			completed = true;
		}
		if (!merged.hasEndpoint()) {
			String address = myEndpointAddress.dicomweb();
			if (address != null) {
				merged.addEndpoint(new Reference(ensureEndpoint(address, request)));
				completed = true;
			}
		}
		// No meta.tag marks the study as derived: HAPI reads a tagged resource's tags with a query
		// of their own on every load (a fifth of a QIDO request); its Provenance says where it came from.
		// A versioned id makes HAPI refuse the update if another writer got there first; a create
		// (no version) fails the same way if another writer created the study meanwhile.
		merged.setId(existingJson == null ? studyId.toUnqualifiedVersionless() : studyId.withVersion(existingVersion));
		DaoMethodOutcome outcome = studyDao.update(merged, request);
		if (existingJson == null && !Boolean.TRUE.equals(outcome.getCreated())) {
			// Another writer created the study after we found none: this unversioned update would
			// overwrite its instances. Roll back and merge into what it wrote.
			throw new ResourceVersionConflictException("ImagingStudy/" + studyId.getIdPart() + " was created concurrently");
		}
		myWriteCount.incrementAndGet();
		if (!added.isEmpty() && outcome.getId() != null) {
			recordProvenance(outcome.getId().toUnqualified(), added, request);
		}
		String newVersion = outcome.getId() == null ? null : outcome.getId().getVersionIdPart();
		if (newVersion != null) {
			String writtenJson = completed ? parser.encodeResourceToString(merged) : mergedJson;
			cacheAfterCommit(theStudyUid, new CachedStudy(newVersion, writtenJson));
		}
	}

	/**
	 * The last line of "one study, one patient": the storage hook refuses an instance naming
	 * another patient than its study's, and the study claim makes two first uploads meet in the
	 * database; should an instance naming another patient still reach the writer (a study emptied
	 * and refilled at the same moment for two patients), it is not listed but marked FAILED with
	 * the reason, in this transaction, and an ERROR names it.
	 */
	private void refuseOtherPatients(String theStudyUid, List<Change> theAdded, List<String> theFragments) {
		if (theAdded.isEmpty()) {
			return;
		}
		InstanceLedger.Patient owner = myLedger.studyOwner(theStudyUid);
		if (owner == null) {
			owner = patientOf(theAdded.get(0));
		}
		InstanceLedger.Patient studyPatient = owner;
		List<Change> others = theAdded.stream().filter(c -> !studyPatient.equals(patientOf(c))).toList();
		if (others.isEmpty()) {
			return;
		}
		theAdded.removeAll(others);
		theFragments.clear();
		theAdded.forEach(c -> theFragments.add(c.fragmentJson()));
		for (Change other : others) {
			String reason = "Study " + theStudyUid + " belongs to " + studyPatient + ", but SOP Instance " + other.sopInstanceUid()
					+ " names " + patientOf(other) + ": not listed. Delete Binary/" + other.binaryId()
					+ " and store it with the right PatientID or StudyInstanceUID.";
			ourLog.error(reason);
			myLedger.markFailed(List.of(other.sopInstanceUid()), reason);
		}
	}

	private static InstanceLedger.Patient patientOf(Change theChange) {
		return new InstanceLedger.Patient(theChange.patientSystem(), theChange.patientValue());
	}

	/** A rolled-back write must not leave its version in the cache. */
	private void cacheAfterCommit(String theStudyUid, CachedStudy theStudy) {
		TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
			@Override
			public void afterCommit() {
				myStudyCache.put(theStudyUid, theStudy);
			}
		});
	}

	private ImagingStudy readIfPresent(IFhirResourceDao<ImagingStudy> theDao, IdType theId, SystemRequestDetails theRequest) {
		try {
			return theDao.read(theId, theRequest);
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	private String ensureEndpoint(String theAddress, SystemRequestDetails theRequest) {
		String cached = myEndpointIds.get(theAddress);
		if (cached != null) {
			return cached;
		}
		Endpoint endpoint = new Endpoint();
		endpoint.addIdentifier().setSystem(ENDPOINT_IDENTIFIER_SYSTEM).setValue(theAddress);
		endpoint.setStatus(Endpoint.EndpointStatus.ACTIVE);
		endpoint.setName("DICOMweb (WADO-RS, QIDO-RS, STOW-RS)");
		endpoint.setConnectionType(new Coding("http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "dicom-wado-rs", "DICOM WADO-RS"));
		endpoint.addPayloadType().addCoding(new Coding("http://terminology.hl7.org/CodeSystem/endpoint-payload-type", "any", "Any"));
		endpoint.addPayloadMimeType("application/dicom");
		endpoint.setAddress(theAddress);
		String matchUrl = "Endpoint?identifier=" + ca.uhn.fhir.util.UrlUtil.escapeUrlParam(
				new ca.uhn.fhir.rest.param.TokenParam(ENDPOINT_IDENTIFIER_SYSTEM, theAddress).getValueAsQueryToken(myFhirContext));
		DaoMethodOutcome outcome = myDaoRegistry.getResourceDao(Endpoint.class).create(endpoint, matchUrl, theRequest);
		String id = "Endpoint/" + outcome.getId().getIdPart();
		// Remember it only once committed: a rolled-back attempt must not leave a dangling id behind.
		TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
			@Override
			public void afterCommit() {
				myEndpointIds.put(theAddress, id);
			}
		});
		return id;
	}

	private void recordProvenance(org.hl7.fhir.instance.model.api.IIdType theStudyVersion, List<Change> theAdded, SystemRequestDetails theRequest) {
		Provenance provenance = new Provenance();
		provenance.addTarget(new Reference(theStudyVersion.getValue()));
		provenance.setRecorded(new Date());
		provenance.setActivity(new org.hl7.fhir.r4.model.CodeableConcept(
				new Coding("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "UPDATE", "revise")));
		provenance.addAgent()
				.setType(new org.hl7.fhir.r4.model.CodeableConcept(
						new Coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "assembler", "Assembler")))
				.setWho(new Reference().setDisplay("dicom-fhir plugin"));
		Set<String> binaries = new LinkedHashSet<>();
		theAdded.forEach(c -> binaries.add(c.binaryId()));
		List<org.hl7.fhir.instance.model.api.IIdType> ids = new ArrayList<>();
		for (String binaryId : binaries) {
			provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.SOURCE).setWhat(new Reference("Binary/" + binaryId));
			ids.add(new IdType("Binary", binaryId));
		}
		// HAPI resolves each reference of the new Provenance with a query of its own (64% of the
		// writer's time with 10 Binaries); resolved together up front, they come from HAPI's id
		// cache, which holds the Binaries just created (BinaryIdLookup's query would not).
		TransactionDetails details = new TransactionDetails();
		myIdHelper.resolveResourceIdentities(RequestPartitionId.allPartitions(), ids, ResolveIdentityMode.excludeDeleted().cacheOk())
				.forEach((id, lookup) -> details.addResolvedResourceId(id, lookup.getPersistentId()));
		myDaoRegistry.getResourceDao(Provenance.class).create(provenance, null, true, theRequest, details);
	}

	/** ImagingStudy id = the Study Instance UID (a valid FHIR id: at most 64 digits and dots). */
	static String studyResourceId(String theStudyUid) {
		return theStudyUid;
	}

	private static void sleepBeforeRetry(int theAttempt) {
		long maxMillis = Math.min(200, 5L << Math.min(theAttempt, 5));
		try {
			Thread.sleep(ThreadLocalRandom.current().nextLong(1, maxMillis + 1));
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException("interrupted", e);
		}
	}
}
