package org.dicomfhir.hapi.studywrite;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InternalErrorException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The hand-off from a Binary's transaction to the {@link StudyWriter}: collects the DICOM instances
 * a database transaction stores or deletes, and once that transaction has committed hands them to
 * the writer. A rolled-back transaction hands nothing over. It also holds this node's claims on
 * SOP Instance UIDs being stored ({@link #claim}) and the read barrier ({@link #awaitStudyWrites()}).
 * (Named {@code StudyIndex} until the package split: it indexes nothing.)
 *
 * <p>Read your writes: with synchronous study writes the upload's response waits until its
 * ImagingStudy lists the instance; with deferred ones (the default) it does not, and instead every
 * other request on this node first waits for the study writes submitted before it arrived
 * ({@link #awaitStudyWrites()}), so no client of this node can see the upload answered and the
 * study not yet updated.
 */
public class StudyWriteHandoff {

	private static final Logger ourLog = LoggerFactory.getLogger(StudyWriteHandoff.class);
	private static final String REQUEST_CLAIM = StudyWriteHandoff.class.getName() + ".requestClaim";

	private final StudyWriter myWriter;
	/** SOP Instance UID → SHA-256 of the bytes a running upload is storing under it. */
	private final Map<String, String> myClaims = new ConcurrentHashMap<>();
	private final DicomFhirProperties myProperties;

	public StudyWriteHandoff(StudyWriter theWriter, DicomFhirProperties theProperties) {
		myWriter = theWriter;
		myProperties = theProperties;
	}

	public void addAfterCommit(RequestDetails theRequest, DicomInstance theInstance) {
		pending().changes.add(StudyWriter.Change.add(theInstance));
	}

	public void removeAfterCommit(RequestDetails theRequest, StudyWriter.Change theRemoval) {
		pending().changes.add(theRemoval);
	}

	/**
	 * Claims a SOP Instance UID for these bytes until this transaction's study write is done, so
	 * two requests storing different objects under one SOP Instance UID at the same moment cannot
	 * both pass the "already stored?" check (on this node; across nodes the check in the database
	 * and the versioned study write remain).
	 */
	public void claim(String theSopInstanceUid, String theSha256, RequestDetails theRequest) {
		if (theRequest != null && theSopInstanceUid.equals(theRequest.getUserData().get(REQUEST_CLAIM))) {
			// Claimed by the request before its transaction began: the transaction takes it over.
			theRequest.getUserData().remove(REQUEST_CLAIM);
			pending().claims.add(theSopInstanceUid);
			return;
		}
		String holder = myClaims.putIfAbsent(theSopInstanceUid, theSha256);
		if (holder == null) {
			pending().claims.add(theSopInstanceUid);
		} else if (!holder.equals(theSha256)) {
			// the other request's Binary id is not the caller's to know (it may not read that instance)
			throw new ResourceVersionConflictException("SOP Instance " + theSopInstanceUid
					+ " is being stored right now with other bytes by another request");
		}
	}

	/**
	 * Claims a SOP Instance UID for a request whose transaction has not begun yet, so that what the
	 * request then reads from the database ({@link org.dicomfhir.hapi.lookup.UploadLookup}) stays true until its transaction runs:
	 * an upload of other bytes under this UID can neither be listed in between unseen nor start
	 * while the claim is held. False when another request holds it (the storage hook then checks as
	 * usual). {@link #claim} takes the claim over; {@link #releaseRequestClaim} drops it if the
	 * request never gets there.
	 */
	public boolean claimForRequest(RequestDetails theRequest, String theSopInstanceUid, String theSha256) {
		if (myClaims.putIfAbsent(theSopInstanceUid, theSha256) != null) {
			return false;
		}
		theRequest.getUserData().put(REQUEST_CLAIM, theSopInstanceUid);
		return true;
	}

	/** Drops a {@link #claimForRequest} claim that no transaction took over (the request failed before storing). */
	public void releaseRequestClaim(RequestDetails theRequest) {
		if (theRequest.getUserData().remove(REQUEST_CLAIM) instanceof String sopInstanceUid) {
			myClaims.remove(sopInstanceUid);
		}
	}

	/** What one database transaction hands over once committed. */
	private static final class TransactionState {
		final List<StudyWriter.Change> changes = new ArrayList<>();
		final List<String> claims = new ArrayList<>();
		boolean claimsHeld;
	}

	private TransactionState pending() {
		if (!TransactionSynchronizationManager.isSynchronizationActive()) {
			throw new IllegalStateException("DICOM Binaries must be written inside a HAPI transaction");
		}
		TransactionState state = (TransactionState) TransactionSynchronizationManager.getResource(this);
		if (state == null) {
			TransactionState created = new TransactionState();
			TransactionSynchronizationManager.bindResource(this, created);
			TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
				@Override
				public void afterCommit() {
					if (created.changes.isEmpty()) {
						return;
					}
					CompletableFuture<Void> write = myWriter.submit(List.copyOf(created.changes));
					// The claims hold until the study lists the instances: until then, the SOP
					// conflict check cannot see them in the database.
					created.claimsHeld = true;
					write.whenComplete((ok, error) -> created.claims.forEach(myClaims::remove));
					if (!myProperties.isDeferredStudyWrites()) {
						awaitWrite(write);
					}
				}

				@Override
				public void afterCompletion(int theStatus) {
					TransactionSynchronizationManager.unbindResourceIfPossible(StudyWriteHandoff.this);
					if (!created.claimsHeld) {
						created.claims.forEach(myClaims::remove);
					}
				}
			});
			state = created;
		}
		return state;
	}

	/**
	 * The read barrier of deferred study writes: returns once every study write submitted before
	 * the call is done (bounded by the study write timeout; a read after that sees the study as it
	 * is and a warning is logged).
	 */
	public void awaitStudyWrites() {
		if (!myProperties.isDeferredStudyWrites()) {
			return;
		}
		if (!myWriter.awaitSubmitted(Duration.ofSeconds(myProperties.getStudyWriteTimeoutSeconds()))) {
			ourLog.warn("ImagingStudy writes did not finish within {} s; this request may not see the latest uploads",
					myProperties.getStudyWriteTimeoutSeconds());
		}
	}

	private void awaitWrite(CompletableFuture<Void> theWrite) {
		try {
			theWrite.get(myProperties.getStudyWriteTimeoutSeconds(), TimeUnit.SECONDS);
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new InternalErrorException("Interrupted while indexing the DICOM instance; upload it again", e);
		} catch (TimeoutException e) {
			throw new InternalErrorException("The DICOM instance is stored but its ImagingStudy was not updated within "
					+ myProperties.getStudyWriteTimeoutSeconds() + " s; it will be once the writer catches up", e);
		} catch (ExecutionException e) {
			throw new InternalErrorException("The DICOM instance is stored but its ImagingStudy could not be updated: "
					+ e.getCause().getMessage() + "; uploading the same bytes again retries", e.getCause());
		}
	}
}
