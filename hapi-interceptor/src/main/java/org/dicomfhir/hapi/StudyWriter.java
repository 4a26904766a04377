package org.dicomfhir.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.api.model.DaoMethodOutcome;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.parser.IParser;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.bridge.DicomStudies;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.ConcurrencyFailureException;
import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.time.Instant;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes ImagingStudy resources with group commit: while one write of a study is running, every
 * change that arrives for that study waits and goes into the next write together. A study is never
 * rewritten once per instance when instances arrive concurrently, so ingest cost stays linear.
 *
 * <p>Each write is one database transaction: read the study, merge (in Rust), versioned update,
 * Provenance. Another writer (another node on the same database) makes the versioned update fail;
 * the write is then retried from a fresh read, so the result is right whatever the interleaving.
 */
public class StudyWriter {

	private static final Logger ourLog = LoggerFactory.getLogger(StudyWriter.class);
	static final String DERIVED_TAG = "derived-from-dicom";
	private static final String ENDPOINT_IDENTIFIER_SYSTEM = "http://dicomfhir.org/fhir/NamingSystem/dicomweb-endpoint";

	/** One instance added to or removed from its study. */
	record Change(String studyUid, String sopInstanceUid, String binaryId, String fragmentJson, String patientJson,
			String patientSystem, String patientValue, String endpointAddress) {
		static Change add(DicomInstance theInstance, String theEndpointAddress) {
			return new Change(theInstance.studyInstanceUid(), theInstance.sopInstanceUid(), theInstance.sha256(),
					theInstance.imagingStudyJson(), theInstance.patientJson(), theInstance.patientIdentifierSystem(),
					theInstance.patientIdentifierValue(), theEndpointAddress);
		}

		static Change remove(DicomInstance theInstance) {
			return new Change(theInstance.studyInstanceUid(), theInstance.sopInstanceUid(), theInstance.sha256(),
					null, null, null, null, null);
		}

		boolean isAdd() {
			return fragmentJson != null;
		}
	}

	private record Pending(List<Change> changes, CompletableFuture<Void> done) {}

	/** Every change submitted and not yet written, with the time it was submitted. */
	private final Map<Pending, Instant> myOutstanding = new ConcurrentHashMap<>();

	/** Changes waiting for a study; present while a writer of that study is running. */
	private final Map<String, List<Pending>> myQueues = new ConcurrentHashMap<>();

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;
	private final IHapiTransactionService myTransactionService;
	private final DicomFhirProperties myProperties;
	private final ExecutorService myExecutor;
	private final Map<String, String> myEndpointIds = new ConcurrentHashMap<>();
	private final AtomicInteger myWriteCount = new AtomicInteger();

	public StudyWriter(
			FhirContext theFhirContext,
			DaoRegistry theDaoRegistry,
			IHapiTransactionService theTransactionService,
			DicomFhirProperties theProperties) {
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
		myTransactionService = theTransactionService;
		myProperties = theProperties;
		AtomicInteger threads = new AtomicInteger();
		myExecutor = Executors.newFixedThreadPool(theProperties.getStudyWriterThreads(), r -> {
			Thread t = new Thread(r, "dicomfhir-study-writer-" + threads.incrementAndGet());
			t.setDaemon(true);
			return t;
		});
	}

	/** Number of ImagingStudy writes so far (for tests and metrics: batching shows as fewer writes). */
	public int writeCount() {
		return myWriteCount.get();
	}

	/**
	 * Every change submitted before this instant has been written (or has failed and was reported
	 * to its uploader): the start-up reconciliation only needs to look at Binaries stored later.
	 */
	Instant indexedUpTo() {
		Instant oldest = Instant.now();
		for (Instant submitted : myOutstanding.values()) {
			if (submitted.isBefore(oldest)) {
				oldest = submitted;
			}
		}
		return oldest;
	}

	/** Queues the changes; the future completes when every study they touch has been written. */
	CompletableFuture<Void> submit(List<Change> theChanges) {
		Map<String, List<Change>> byStudy = new LinkedHashMap<>();
		for (Change change : theChanges) {
			byStudy.computeIfAbsent(change.studyUid(), k -> new ArrayList<>()).add(change);
		}
		List<CompletableFuture<Void>> writes = new ArrayList<>();
		for (Map.Entry<String, List<Change>> entry : byStudy.entrySet()) {
			writes.add(enqueue(entry.getKey(), entry.getValue()));
		}
		return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new));
	}

	private CompletableFuture<Void> enqueue(String theStudyUid, List<Change> theChanges) {
		Pending pending = new Pending(theChanges, new CompletableFuture<>());
		myOutstanding.put(pending, Instant.now());
		pending.done().whenComplete((ok, error) -> myOutstanding.remove(pending));
		boolean[] startWriter = {false};
		myQueues.compute(theStudyUid, (uid, queue) -> {
			if (queue == null) {
				startWriter[0] = true;
				queue = new ArrayList<>();
			}
			queue.add(pending);
			return queue;
		});
		if (startWriter[0]) {
			myExecutor.execute(() -> drain(theStudyUid));
		}
		return pending.done();
	}

	private void drain(String theStudyUid) {
		while (true) {
			List<Pending> batch = new ArrayList<>();
			myQueues.computeIfPresent(theStudyUid, (uid, queue) -> {
				batch.addAll(queue);
				queue.clear();
				// An empty queue ends this writer; the next change starts a new one.
				return batch.isEmpty() ? null : queue;
			});
			if (batch.isEmpty()) {
				return;
			}
			List<Change> changes = new ArrayList<>();
			batch.forEach(p -> changes.addAll(p.changes()));
			try {
				writeWithRetry(theStudyUid, changes);
				batch.forEach(p -> p.done().complete(null));
			} catch (RuntimeException e) {
				ourLog.error("Writing ImagingStudy {} failed", theStudyUid, e);
				batch.forEach(p -> p.done().completeExceptionally(e));
			}
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
				ourLog.debug("ImagingStudy {} changed under us (attempt {}): {}", theStudyUid, attempt + 1, e.toString());
				sleepBeforeRetry(attempt);
			}
		}
	}

	private void writeOnce(String theStudyUid, List<Change> theChanges) {
		SystemRequestDetails request = new SystemRequestDetails();
		IFhirResourceDao<ImagingStudy> studyDao = myDaoRegistry.getResourceDao(ImagingStudy.class);
		IParser parser = myFhirContext.newJsonParser();
		IdType studyId = new IdType("ImagingStudy", studyResourceId(theStudyUid));

		ImagingStudy existing = readIfPresent(studyDao, studyId, request);
		String existingJson = existing == null ? null : parser.encodeResourceToString(existing);

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
			}
		}
		String mergedJson = existingJson;
		if (!fragments.isEmpty()) {
			mergedJson = DicomStudies.merge(existingJson, fragments);
		}
		if (!removed.isEmpty() && mergedJson != null) {
			mergedJson = DicomStudies.removeInstances(mergedJson, removed).orElse(null);
		}
		if (mergedJson == null) {
			if (existing != null) {
				studyDao.delete(studyId.withVersion(existing.getIdElement().getVersionIdPart()), request);
				myWriteCount.incrementAndGet();
			}
			return;
		}
		if (mergedJson.equals(existingJson)) {
			return; // every instance was already listed: nothing to write
		}

		ImagingStudy merged = parser.parseResource(ImagingStudy.class, mergedJson);
		if (!merged.hasSubject() && !added.isEmpty()) {
			merged.setSubject(new Reference(ensurePatient(added.get(0), request)));
		}
		if (!merged.hasEndpoint()) {
			String address = added.stream().map(Change::endpointAddress).filter(a -> a != null).findFirst().orElse(null);
			if (address != null) {
				merged.addEndpoint(new Reference(ensureEndpoint(address, request)));
			}
		}
		if (merged.getMeta().getTag(DicomStorageInterceptor.TAG_SYSTEM, DERIVED_TAG) == null) {
			merged.getMeta().addTag(DicomStorageInterceptor.TAG_SYSTEM, DERIVED_TAG, "Derived from DICOM instances");
		}
		// A versioned id makes HAPI refuse the update if another writer got there first.
		merged.setId(existing == null ? studyId.toUnqualifiedVersionless() : studyId.withVersion(existing.getIdElement().getVersionIdPart()));
		DaoMethodOutcome outcome = studyDao.update(merged, request);
		myWriteCount.incrementAndGet();
		if (!added.isEmpty() && outcome.getId() != null) {
			recordProvenance(outcome.getId().toUnqualified(), added, request);
		}
	}

	private ImagingStudy readIfPresent(IFhirResourceDao<ImagingStudy> theDao, IdType theId, SystemRequestDetails theRequest) {
		try {
			return theDao.read(theId, theRequest);
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	private String ensurePatient(Change theChange, SystemRequestDetails theRequest) {
		Patient patient = myFhirContext.newJsonParser().parseResource(Patient.class, theChange.patientJson());
		String matchUrl = "Patient?identifier=" + urlEncode(theChange.patientSystem()) + "|" + urlEncode(theChange.patientValue());
		DaoMethodOutcome outcome = myDaoRegistry.getResourceDao(Patient.class).create(patient, matchUrl, theRequest);
		return "Patient/" + outcome.getId().getIdPart();
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
		String matchUrl = "Endpoint?identifier=" + urlEncode(ENDPOINT_IDENTIFIER_SYSTEM) + "|" + urlEncode(theAddress);
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
		for (String binaryId : binaries) {
			provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.SOURCE).setWhat(new Reference("Binary/" + binaryId));
		}
		myDaoRegistry.getResourceDao(Provenance.class).create(provenance, theRequest);
	}

	/** ImagingStudy id = the Study Instance UID (a valid FHIR id: at most 64 digits and dots). */
	static String studyResourceId(String theStudyUid) {
		return theStudyUid;
	}

	private static String urlEncode(String theValue) {
		return URLEncoder.encode(theValue == null ? "" : theValue, StandardCharsets.UTF_8);
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
