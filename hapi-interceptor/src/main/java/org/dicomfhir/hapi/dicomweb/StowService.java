package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.dao.JpaPid;
import ca.uhn.fhir.rest.api.server.storage.TransactionDetails;
import ca.uhn.fhir.rest.server.exceptions.AuthenticationException;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.persistence.EntityManager;
import jakarta.persistence.FlushModeType;
import jakarta.persistence.PersistenceContext;
import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.bridge.DicomNative;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.ingest.DicomStorageInterceptor;
import org.dicomfhir.hapi.lookup.BinaryIdLookup;
import org.dicomfhir.hapi.studywrite.PatientConflictException;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binary.api.StoredDetails;
import ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor;
import ca.uhn.fhir.jpa.binary.svc.BaseBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.model.util.JpaConstants;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.util.HapiExtensions;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.StringType;
import org.springframework.beans.factory.ObjectProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * STOW-RS (PS3.18 §10.5). Each part is stored exactly as a Binary upload is: a DAO update of
 * {@code Binary/<sha256>} with the caller's RequestDetails, so the storage interceptor parses,
 * validates and indexes it, and authorization applies. The valid parts of one request are stored
 * in one database transaction, so their study is written once (group commit); if that
 * transaction fails, the parts are stored one by one to tell which failed.
 */
public class StowService {

	private static final Logger ourLog = LoggerFactory.getLogger(StowService.class);

	// Why a part failed, by the name of the core's FailureReason (rust/core/src/stow.rs): the core
	// owns the FailureReason (0008,1197) codes and builds the response data set.
	static final String PROCESSING_FAILURE = "processingFailure";
	static final String INVALID = "invalid"; // data set does not match SOP class / cannot be parsed
	static final String STUDY_UID_MISMATCH = "studyUidMismatch";
	static final String DUPLICATE_DIFFERENT = "duplicateDifferent"; // SOP instance already stored with other bytes
	static final String SOP_CLASS_NOT_SUPPORTED = "sopClassNotSupported"; // part is not application/dicom
	static final String PATIENT_CONFLICT = PatientConflictException.FAILURE_REASON_NAME;

	private final DaoRegistry myDaoRegistry;
	private final IHapiTransactionService myTransactions;
	private final DicomWebProperties myProperties;
	private final StudyStore myStore;
	private final BinaryIdLookup myBinaryIds;
	private final DicomStorageInterceptor myStorage;
	private final ObjectProvider<IBinaryStorageSvc> myBinaryStorage;
	private final StudyAccess myAccess;

	@PersistenceContext
	private EntityManager myEntityManager;

	public StowService(DaoRegistry theDaoRegistry, IHapiTransactionService theTransactions, DicomWebProperties theProperties,
			StudyStore theStore, BinaryIdLookup theBinaryIds, DicomStorageInterceptor theStorage,
			ObjectProvider<IBinaryStorageSvc> theBinaryStorage, StudyAccess theAccess) {
		myAccess = theAccess;
		myDaoRegistry = theDaoRegistry;
		myTransactions = theTransactions;
		myProperties = theProperties;
		myStore = theStore;
		myBinaryIds = theBinaryIds;
		myStorage = theStorage;
		myBinaryStorage = theBinaryStorage;
	}

	/**
	 * A valid part: its bytes in memory, or (spooled) its file; {@code blobId} is set once a
	 * spooled part is in the binary store, {@code newBlob} when this request wrote that blob.
	 */
	private static final class Parsed {
		private final DicomInstance myInstance;
		private final Spool.Body myBody;
		private String myBlobId;
		private boolean myNewBlob;

		Parsed(DicomInstance theInstance, Spool.Body theBody) {
			myInstance = theInstance;
			myBody = theBody;
		}

		DicomInstance instance() {
			return myInstance;
		}

		byte[] bytes() {
			return myBody.bytes();
		}
	}

	private record Failure(String sopClassUid, String sopInstanceUid, String reason, String message) {}

	void store(DicomWebRequest theRequest, String theStudyUid) throws IOException {
		// before a byte of the body is read: a caller who may store no instance at all
		myAccess.requireMayStoreAny(theRequest.details());
		IBinaryStorageSvc blobs = myBinaryStorage.getIfAvailable();
		long maxRequest = myProperties.getStowMaxRequestBytes();
		// Without a binary store a part can only be stored from memory: no spooling then.
		try (Spool spool = new Spool(myProperties.getStowSpoolDirectory(), blobs != null, myProperties.getStowSpoolThresholdBytes(),
				Math.min(myProperties.getStowMaxPartBytes(), maxRequest), Math.min(myProperties.getStowMaxSpooledPartBytes(), maxRequest),
				myProperties.getStowMaxInMemoryRequestBytes())) {
			readAndStore(theRequest, theStudyUid, spool, blobs);
		} finally {
			myStorage.forgetParsed(theRequest.details());
		}
	}

	private void readAndStore(DicomWebRequest theRequest, String theStudyUid, Spool theSpool, IBinaryStorageSvc theBlobs)
			throws IOException {
		String accept = theRequest.header("Accept");
		if (accept != null && !accept.isBlank()) {
			QidoService.checkAccept(accept); // the response is application/dicom+json
		}
		String contentType = theRequest.header("Content-Type");
		String media = MultipartReader.mediaType(contentType);
		List<Spool.Body> bodies = new ArrayList<>();
		List<Failure> failures = new ArrayList<>();
		// The whole request is bounded before it is read: a declared length above the limit is
		// refused at once, and a chunked body is counted as it is read.
		long maxRequest = myProperties.getStowMaxRequestBytes();
		long declared = theRequest.servletRequest().getContentLengthLong();
		if (declared > maxRequest) {
			throw new DicomWebException(413, "The request body of " + declared + " bytes exceeds the limit of " + maxRequest
					+ " bytes (dicomfhir.dicomweb.stow-max-request-bytes): send fewer instances per request");
		}
		InputStream requestBody = new LimitedInputStream(theRequest.servletRequest().getInputStream(), maxRequest);
		if ("application/dicom".equals(media)) {
			Spool.Sink sink = theSpool.newSink();
			requestBody.transferTo(sink);
			bodies.add(sink.finish());
		} else if ("multipart/related".equals(media)) {
			String type = MultipartReader.parameter(contentType, "type");
			if (type != null && !"application/dicom".equalsIgnoreCase(type)) {
				throw new DicomWebException(415, "This server stores multipart/related; type=\"application/dicom\" only"
						+ " (not " + type + "): metadata+bulkdata STOW is not supported yet");
			}
			String boundary = MultipartReader.parameter(contentType, "boundary");
			if (boundary == null) {
				throw DicomWebException.badRequest("multipart/related without a boundary parameter");
			}
			MultipartReader reader = new MultipartReader(requestBody, boundary, theSpool, myProperties.getStowMaxHeaderBytes());
			int maxParts = myProperties.getStowMaxParts();
			int count = 0;
			MultipartReader.Part part;
			while ((part = reader.next()) != null) {
				if (++count > maxParts) {
					throw new DicomWebException(413, "The request holds more than " + maxParts
							+ " parts (dicomfhir.dicomweb.stow-max-parts): send fewer instances per request");
				}
				String partType = part.contentType() == null ? "application/dicom" : MultipartReader.mediaType(part.contentType());
				if (!"application/dicom".equals(partType)) {
					failures.add(new Failure(null, null, SOP_CLASS_NOT_SUPPORTED, "part of type " + partType + " is not application/dicom"));
					continue;
				}
				bodies.add(part.content());
			}
		} else {
			throw new DicomWebException(415, "STOW-RS takes multipart/related; type=\"application/dicom\" or application/dicom,"
					+ " not " + (contentType == null ? "a body without Content-Type" : contentType));
		}
		if (bodies.isEmpty() && failures.isEmpty()) {
			throw DicomWebException.badRequest("The request holds no DICOM instance");
		}

		// Parse and check each part before anything is stored.
		List<Parsed> valid = new ArrayList<>();
		Set<String> seen = new LinkedHashSet<>();
		for (Spool.Body body : bodies) {
			DicomInstance instance;
			try {
				instance = body.spooled() ? parseSpooled(body) : myStorage.parseForStorage(body.bytes(), theRequest.details());
			} catch (DicomException e) {
				failures.add(new Failure(null, null, INVALID, "not a valid DICOM instance: " + e.getMessage()));
				continue;
			}
			if (body.spooled() && !body.sha256().equals(instance.sha256())) {
				// the file changed under us (it is ours alone): refuse rather than store what was not parsed
				failures.add(new Failure(instance.sopClassUid(), instance.sopInstanceUid(), PROCESSING_FAILURE,
						"the spooled part changed while it was parsed"));
				continue;
			}
			if (theStudyUid != null && !theStudyUid.equals(instance.studyInstanceUid())) {
				failures.add(new Failure(instance.sopClassUid(), instance.sopInstanceUid(), STUDY_UID_MISMATCH,
						"StudyInstanceUID " + instance.studyInstanceUid() + " does not match the URL's " + theStudyUid));
				continue;
			}
			if (!seen.add(instance.sha256())) {
				continue; // the same bytes twice in one request: stored once, reported once
			}
			valid.add(new Parsed(instance, body));
		}

		authorizeTargets(valid, theRequest);
		List<Parsed> stored = new ArrayList<>();
		try {
			storeValid(theRequest, valid, stored, failures, theBlobs);
		} finally {
			// blobs written for parts that were not stored in the end are not referenced by anything
			for (Parsed p : valid) {
				if (p.myNewBlob && !stored.contains(p)) {
					expungeQuietly(theBlobs, p);
				}
			}
		}
		respond(theRequest, theStudyUid, stored, failures);
	}

	/** Parses a spooled part from a memory map of its file (zero copy into the Rust core), unmapped at once. */
	private DicomInstance parseSpooled(Spool.Body theBody) throws IOException {
		MappedByteBuffer map = Spool.map(theBody.file());
		try {
			return myStorage.parse(map);
		} finally {
			Spool.unmap(map);
		}
	}

	/**
	 * A part's bytes go to the binary store (a spooled part's streamed from its file), unless
	 * {@code Binary/<sha256>} already holds them in a blob the store still has: then that blob is
	 * reused, and storing the same bytes again is the no-op update it is for in-memory parts. The
	 * storage hooks are told to expect the Binary without inline bytes
	 * ({@link DicomStorageInterceptor#expectExternalized}).
	 */
	private void externalize(Parsed theParsed, DicomWebRequest theRequest, IBinaryStorageSvc theBlobs, boolean theKnownNew)
			throws IOException {
		String sha = theParsed.instance().sha256();
		IdType id = new IdType("Binary", sha);
		String existing = theKnownNew ? null : existingBlob(id, theBlobs);
		if (existing != null) {
			theParsed.myBlobId = existing;
		} else {
			SystemRequestDetails details = new SystemRequestDetails();
			// our own blob id (the storage hook's prefix + the store's random id): no prefix hook call
			BaseBinaryStorageSvcImpl.setBinaryContentIdPrefixApplied(details);
			Binary probe = new Binary();
			probe.setId(id);
			probe.setContentType("application/dicom");
			String prefix = myStorage.dicomBlobIdPrefix(probe);
			String blobId = (prefix == null ? "" : prefix) + theBlobs.newBinaryContentId();
			if (!theBlobs.isValidBinaryContentId(blobId)) {
				blobId = null; // the store names it
			}
			StoredDetails stored;
			try (InputStream in = theParsed.myBody.spooled() ? Files.newInputStream(theParsed.myBody.file())
					: new java.io.ByteArrayInputStream(theParsed.bytes())) {
				stored = theBlobs.storeBinaryContent(id, blobId, "application/dicom", in, details);
			}
			theParsed.myBlobId = stored.getBinaryContentId();
			theParsed.myNewBlob = true;
			if (stored.getBytes() != theParsed.myBody.size() || !sha.equals(stored.getHash())) {
				throw new IllegalStateException("the binary store holds " + stored.getBytes() + " bytes of SHA-256 " + stored.getHash()
						+ " for a part of " + theParsed.myBody.size() + " bytes of SHA-256 " + sha);
			}
		}
		myStorage.expectExternalized(theRequest.details(), theParsed.instance(), theParsed.myBlobId);
	}

	/** The blob of a stored (not deleted) {@code Binary/<id>} that still exists, or null. */
	private String existingBlob(IdType theId, IBinaryStorageSvc theBlobs) {
		SystemRequestDetails system = new SystemRequestDetails();
		system.getUserData().put(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY, Boolean.FALSE);
		Binary current;
		try {
			current = myDaoRegistry.getResourceDao(Binary.class).read(theId, system);
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
		if (current.getContent() != null) {
			return null;
		}
		Extension ext = current.getDataElement().getExtensionByUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_ID);
		Extension hash = current.getDataElement().getExtensionByUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_HASH_SHA_256);
		if (ext == null || ext.getValue() == null || hash == null || hash.getValue() == null
				|| !theId.getIdPart().equals(hash.getValue().primitiveValue())) {
			return null;
		}
		String blobId = ext.getValue().primitiveValue();
		try {
			return theBlobs.fetchBinaryContentDetails(theId, blobId) != null ? blobId : null;
		} catch (IOException | RuntimeException e) {
			return null;
		}
	}

	private void expungeQuietly(IBinaryStorageSvc theBlobs, Parsed theParsed) {
		try {
			theBlobs.expungeBinaryContent(new IdType("Binary", theParsed.instance().sha256()), theParsed.myBlobId);
		} catch (RuntimeException e) {
			ourLog.warn("Cannot remove blob {} of a STOW-RS part that was not stored: {}", theParsed.myBlobId, e.toString());
		}
	}

	private void storeValid(DicomWebRequest theRequest, List<Parsed> theValid, List<Parsed> theStored, List<Failure> failures,
			IBinaryStorageSvc theBlobs) {
		// Which Binaries exist, in one query, before anything is written: a new part's bytes go to the
		// binary store directly (no Base64 round trip through Binary.data: an eighth of a STOW request).
		Map<String, JpaPid> storedIds = myBinaryIds.stored(theValid.stream().map(p -> p.instance().sha256()).toList());
		List<Parsed> valid = new ArrayList<>();
		for (Parsed p : theValid) {
			boolean knownNew = storedIds != null && !storedIds.containsKey(p.instance().sha256());
			if (!p.myBody.spooled() && !knownNew) {
				valid.add(p); // stored before (or unknown): HAPI's update path, which reuses an identical blob
				continue;
			}
			try {
				externalize(p, theRequest, theBlobs, knownNew);
				valid.add(p);
			} catch (IOException | RuntimeException e) {
				ourLog.warn("STOW of SOP instance {}: its bytes could not be written to the binary store", p.instance().sopInstanceUid(), e);
				failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(), PROCESSING_FAILURE,
						"cannot write to the binary store: " + e));
			}
		}
		List<Parsed> stored = theStored;
		if (!valid.isEmpty()) {
			boolean together = false;
			if (valid.size() > 1) {
				try {
					myTransactions.withRequest(theRequest.details()).execute(() -> {
						// Each DAO update runs queries (id resolution, the ledger lookup); in Hibernate's
						// AUTO mode every query first dirty-checks all entities of the session, so
						// the k-th part paid for the k-1 before it: O(n²) per request. The parts are
						// distinct Binaries that no query of another part reads, so flushing once,
						// at commit, changes nothing but the cost.
						myEntityManager.setFlushMode(FlushModeType.COMMIT);
						TransactionDetails details = resolvedBinaryIds(valid, storedIds);
						for (Parsed p : valid) {
							update(p, theRequest, details);
						}
					});
					together = true;
					stored.addAll(valid);
				} catch (AuthenticationException | ForbiddenOperationException e) {
					throw e;
				} catch (RuntimeException e) {
					ourLog.debug("STOW batch failed ({}); storing the parts one by one", e.toString());
				}
			}
			if (!together) {
				for (Parsed p : valid) {
					try {
						update(p, theRequest, new TransactionDetails());
						stored.add(p);
					} catch (AuthenticationException | ForbiddenOperationException e) {
						throw e;
					} catch (PatientConflictException e) {
						// its patient differs from its study's (or is claimed by several Patients)
						failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(),
								PATIENT_CONFLICT, e.getMessage()));
					} catch (ResourceVersionConflictException e) {
						failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(), DUPLICATE_DIFFERENT, e.getMessage()));
					} catch (UnprocessableEntityException e) {
						failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(), INVALID, e.getMessage()));
					} catch (BaseServerResponseException e) {
						failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(),
								e.getStatusCode() == 409 ? DUPLICATE_DIFFERENT : PROCESSING_FAILURE, e.getMessage()));
					} catch (RuntimeException e) {
						ourLog.warn("STOW of SOP instance {} failed", p.instance().sopInstanceUid(), e);
						failures.add(new Failure(p.instance().sopClassUid(), p.instance().sopInstanceUid(), PROCESSING_FAILURE, e.toString()));
					}
				}
			}
		}
	}

	/**
	 * The instances go into studies and patients the plugin writes as the system, so the caller's
	 * right to write them is checked here, after the parse and before any lookup, claim or store:
	 * each target study must be one the caller may update (or, new, create, with its Patient).
	 * One part the caller may not store refuses the whole request (403), nothing stored.
	 */
	private void authorizeTargets(List<Parsed> theParts, DicomWebRequest theRequest) {
		for (Parsed p : theParts) {
			myAccess.requireMayStore(theRequest.details(), p.instance());
		}
	}

	private void update(Parsed theParsed, DicomWebRequest theRequest, TransactionDetails theDetails) {
		Binary binary = new Binary();
		binary.setId(new IdType("Binary", theParsed.instance().sha256()));
		binary.setContentType("application/dicom");
		if (theParsed.myBlobId != null) {
			// the bytes are in the binary store already: the data element names the blob, as HAPI's
			// BinaryStorageInterceptor would have written it, with its extensions marked
			// system-defined (what HAPI's own $binary-access-write does), which no client can send
			Extension blob = binary.getDataElement().addExtension();
			blob.setUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_ID);
			blob.setValue(new StringType(theParsed.myBlobId));
			blob.setUserData(JpaConstants.EXTENSION_EXT_SYSTEMDEFINED, Boolean.TRUE);
			Extension hash = binary.getDataElement().addExtension();
			hash.setUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_HASH_SHA_256);
			hash.setValue(new StringType(theParsed.instance().sha256()));
			hash.setUserData(JpaConstants.EXTENSION_EXT_SYSTEMDEFINED, Boolean.TRUE);
		} else {
			binary.setData(theParsed.bytes());
		}
		myDaoRegistry.getResourceDao(Binary.class).update(binary, null, true, false, theRequest.details(), theDetails);
	}

	/**
	 * The batch's {@code Binary/<sha256>} ids resolved in one query, for the DAO updates to use:
	 * each update otherwise resolves its client-assigned id with a query of its own (a fifth of a
	 * STOW request). An id stored nowhere is recorded as such, so its update goes straight to
	 * create; should another request create it meanwhile, the batch fails on the unique id and the
	 * parts are stored one by one, each resolving its id again.
	 */
	private static TransactionDetails resolvedBinaryIds(List<Parsed> theParts, Map<String, JpaPid> theStored) {
		TransactionDetails details = new TransactionDetails();
		if (theStored != null) {
			for (Parsed p : theParts) {
				String id = p.instance().sha256();
				details.addResolvedResourceId(new IdType("Binary", id), theStored.get(id)); // null: new
			}
		}
		return details;
	}

	/** The core builds the response (status, DICOM JSON) from what was stored and what failed. */
	private void respond(DicomWebRequest theRequest, String theStudyUid, List<Parsed> theStored, List<Failure> theFailures)
			throws IOException {
		ObjectNode outcome = QidoService.JSON.createObjectNode();
		outcome.put("serviceBase", theRequest.serviceBase());
		outcome.put("studyUid", theStudyUid);
		ArrayNode stored = outcome.putArray("stored");
		for (Parsed p : theStored) {
			ObjectNode item = stored.addObject();
			item.put("sopClassUid", p.instance().sopClassUid());
			item.put("sopInstanceUid", p.instance().sopInstanceUid());
			item.put("studyInstanceUid", p.instance().studyInstanceUid());
			item.put("seriesInstanceUid", p.instance().seriesInstanceUid());
		}
		ArrayNode failures = outcome.putArray("failures");
		for (Failure f : theFailures) {
			ObjectNode item = failures.addObject();
			item.put("sopClassUid", f.sopClassUid());
			item.put("sopInstanceUid", f.sopInstanceUid());
			item.put("reason", f.reason());
			item.put("message", f.message());
		}
		com.fasterxml.jackson.databind.JsonNode response =
				QidoService.JSON.readTree(DicomNative.stowResponse(QidoService.JSON.writeValueAsString(outcome)));
		HttpServletResponse servlet = theRequest.servletResponse();
		servlet.setStatus(response.path("status").asInt());
		// exactly this media type: clients (dicomweb-client) compare it verbatim; JSON is UTF-8 (RFC 8259)
		servlet.setContentType("application/dicom+json");
		byte[] out = QidoService.JSON.writeValueAsBytes(response.path("body"));
		servlet.setContentLength(out.length);
		try (OutputStream os = servlet.getOutputStream()) {
			os.write(out);
		}
	}

	/** The request body, counted: more than the limit is a 413 while it is read. */
	static final class LimitedInputStream extends java.io.FilterInputStream {
		private final long myMax;
		private long myCount;

		LimitedInputStream(InputStream theIn, long theMax) {
			super(theIn);
			myMax = theMax;
		}

		private void count(long theRead) {
			if (theRead > 0) {
				myCount += theRead;
				if (myCount > myMax) {
					throw new DicomWebException(413, "The request body exceeds the limit of " + myMax
							+ " bytes (dicomfhir.dicomweb.stow-max-request-bytes): send fewer instances per request");
				}
			}
		}

		@Override
		public int read() throws IOException {
			int b = super.read();
			count(b < 0 ? 0 : 1);
			return b;
		}

		@Override
		public int read(byte[] theBuf, int theOff, int theLen) throws IOException {
			int n = super.read(theBuf, theOff, theLen);
			count(n);
			return n;
		}

		@Override
		public long skip(long theN) throws IOException {
			long n = super.skip(theN);
			count(n);
			return n;
		}
	}
}
