package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.hapi.access.DicomBinaryKind;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.config.NativeOptions;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.studywrite.StudyWriter;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.context.event.EventListener;

import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Brings every stored instance into its ImagingStudy, whatever happened between the Binary's
 * commit and its study write (a crash, a restart under another node id, a failed write), from the
 * {@link InstanceLedger}: a row that is not {@code LISTED} is work left to do, on any node.
 * <ul>
 *   <li>At start-up: every pending, failed and removing row, whoever wrote it.</li>
 *   <li>Then every {@code reconcile-interval-seconds}: rows pending or removing for longer than
 *       {@code reconcile-after-seconds} (a live node writes its own well before), and failed rows.</li>
 *   <li>An empty ledger on a store with DICOM Binaries (a store from before the ledger) is filled
 *       from the Binaries first.</li>
 * </ul>
 * Indexing an instance already listed changes nothing, so doing a row twice (two nodes) is harmless.
 */
public class StudyIndexReconciler {

	private static final Logger ourLog = LoggerFactory.getLogger(StudyIndexReconciler.class);
	private static final int PAGE = 200;
	private static final Set<InstanceLedger.State> UNFINISHED =
			EnumSet.of(InstanceLedger.State.PENDING, InstanceLedger.State.REMOVING, InstanceLedger.State.FAILED);

	private final DaoRegistry myDaoRegistry;
	private final BinaryBytes myBinaryBytes;
	private final NativeOptions myOptions;
	private final StudyWriter myWriter;
	private final DicomFhirProperties myProperties;
	private final InstanceLedger myLedger;
	private final IHapiTransactionService myTransactions;
	private ScheduledExecutorService myScheduler;

	@PersistenceContext
	private EntityManager myEntityManager;

	public StudyIndexReconciler(
			DaoRegistry theDaoRegistry,
			BinaryBytes theBinaryBytes,
			NativeOptions theOptions,
			StudyWriter theWriter,
			DicomFhirProperties theProperties,
			InstanceLedger theLedger,
			IHapiTransactionService theTransactions) {
		myDaoRegistry = theDaoRegistry;
		myBinaryBytes = theBinaryBytes;
		myOptions = theOptions;
		myWriter = theWriter;
		myProperties = theProperties;
		myLedger = theLedger;
		myTransactions = theTransactions;
	}

	@EventListener(ContextRefreshedEvent.class)
	public synchronized void start() {
		if (myScheduler != null) {
			return;
		}
		myScheduler = Executors.newSingleThreadScheduledExecutor(r -> {
			Thread t = new Thread(r, "dicomfhir-reconciler");
			t.setDaemon(true);
			return t;
		});
		myScheduler.execute(this::reconcileAfterStart);
		// Scheduled whatever the start-up pass does: a failure there is retried, not final.
		long every = Math.max(1, myProperties.getReconcileIntervalSeconds());
		myScheduler.scheduleWithFixedDelay(this::reconcilePeriodically, every, every, TimeUnit.SECONDS);
	}

	private void reconcileAfterStart() {
		try {
			if (Boolean.TRUE.equals(inTransaction(myLedger::isEmpty))) {
				int filled = reconcileSince(Instant.EPOCH);
				if (filled > 0) {
					ourLog.info("Instance ledger filled from {} stored DICOM Binaries", filled);
				}
			}
			int count = reconcileUnfinished(UNFINISHED, System.currentTimeMillis());
			ourLog.info("Start-up reconciliation (node {}): {} stored instances not yet (or no longer) listed handed to the study writer",
					myProperties.getNodeId(), count);
		} catch (RuntimeException e) {
			ourLog.error("Start-up reconciliation failed; it is retried every {} s", myProperties.getReconcileIntervalSeconds(), e);
		}
	}

	private void reconcilePeriodically() {
		try {
			long stale = System.currentTimeMillis() - 1000L * myProperties.getReconcileAfterSeconds();
			int count = reconcileUnfinished(EnumSet.of(InstanceLedger.State.PENDING, InstanceLedger.State.REMOVING), stale)
					+ reconcileUnfinished(EnumSet.of(InstanceLedger.State.FAILED), System.currentTimeMillis());
			if (count > 0) {
				ourLog.info("Reconciliation: {} stored instances not yet (or no longer) listed handed to the study writer", count);
			}
		} catch (RuntimeException e) {
			ourLog.warn("Reconciliation failed (retried in {} s): {}", myProperties.getReconcileIntervalSeconds(), e.toString());
		}
	}

	/** Hands every ledger row in these states, last changed before the given time, to the study writer; returns how many. */
	public int reconcileUnfinished(Set<InstanceLedger.State> theStates, long theChangedBefore) {
		int count = 0;
		String after = null;
		while (true) {
			String from = after;
			List<InstanceLedger.Row> rows = inTransaction(() -> myLedger.inStates(theStates, theChangedBefore, from, PAGE));
			if (rows.isEmpty()) {
				return count;
			}
			List<StudyWriter.Change> changes = new ArrayList<>();
			for (InstanceLedger.Row row : rows) {
				StudyWriter.Change change = changeFor(row);
				if (change != null) {
					changes.add(change);
				}
			}
			join(changes);
			count += changes.size();
			after = rows.get(rows.size() - 1).sopInstanceUid();
		}
	}

	private StudyWriter.Change changeFor(InstanceLedger.Row theRow) {
		if (theRow.state() == InstanceLedger.State.REMOVING) {
			return StudyWriter.Change.remove(theRow.studyInstanceUid(), theRow.sopInstanceUid(), theRow.binaryId());
		}
		Binary binary = readBinary(theRow.binaryId());
		if (binary == null) {
			// The Binary is gone without its delete hook (an expunge): take it out of its study too.
			inTransaction(() -> {
				myLedger.markRemoving(theRow.sopInstanceUid(), theRow.binaryId());
				return null;
			});
			return StudyWriter.Change.remove(theRow.studyInstanceUid(), theRow.sopInstanceUid(), theRow.binaryId());
		}
		byte[] bytes = myBinaryBytes.read(binary);
		if (bytes == null) {
			failed(theRow, "the bytes of Binary/" + theRow.binaryId() + " cannot be read from the binary store");
			return null;
		}
		try {
			return StudyWriter.Change.add(DicomInstance.parse(bytes, myOptions.derive()));
		} catch (DicomException e) {
			failed(theRow, "Binary/" + theRow.binaryId() + " no longer parses: " + e.getMessage());
			return null;
		}
	}

	private void failed(InstanceLedger.Row theRow, String theReason) {
		ourLog.error("SOP Instance {} (study {}) cannot be listed: {}", theRow.sopInstanceUid(), theRow.studyInstanceUid(), theReason);
		inTransaction(() -> {
			myLedger.markFailed(List.of(theRow.sopInstanceUid()), theReason);
			return null;
		});
	}

	/**
	 * Indexes again every DICOM Binary stored (created or updated) at or after {@code theSince},
	 * recording it in the ledger when it is not there; returns how many. Pages through the
	 * Binaries by their persistent id, so no result-size cap of a FHIR search applies.
	 */
	public int reconcileSince(Instant theSince) {
		int count = 0;
		long afterPid = -1;
		java.sql.Timestamp since = java.sql.Timestamp.from(theSince);
		while (true) {
			long from = afterPid;
			@SuppressWarnings("unchecked")
			List<Object[]> page = inTransaction(() -> myEntityManager.createNativeQuery(
							"SELECT RES_ID, FHIR_ID FROM HFJ_RESOURCE WHERE RES_TYPE = 'Binary' AND RES_DELETED_AT IS NULL"
									+ " AND RES_UPDATED >= ?1 AND RES_ID > ?2 ORDER BY RES_ID")
					.setParameter(1, since)
					.setParameter(2, from)
					.setMaxResults(PAGE)
					.getResultList());
			if (page.isEmpty()) {
				return count;
			}
			List<StudyWriter.Change> changes = new ArrayList<>();
			for (Object[] row : page) {
				String id = (String) row[1];
				if (!DicomBinaries.isContentAddress(id)) {
					continue;
				}
				Binary binary = readBinary(id);
				byte[] bytes = binary == null || !DicomBinaryKind.isDicomContentType(binary.getContentType()) ? null : myBinaryBytes.read(binary);
				if (bytes == null) {
					continue;
				}
				try {
					DicomInstance instance = DicomInstance.parse(bytes, myOptions.derive());
					InstanceLedger.Patient patient = InstanceLedger.Patient.of(instance);
					inTransaction(() -> {
						if (myLedger.find(instance.sopInstanceUid()) == null) {
							myLedger.insertPending(instance.sopInstanceUid(), instance.studyInstanceUid(), instance.sha256(),
									patient.system(), patient.value());
						}
						return null;
					});
					changes.add(StudyWriter.Change.add(instance));
				} catch (DicomException e) {
					ourLog.warn("Binary/{} is DICOM but does not parse: {}", id, e.getMessage());
				} catch (RuntimeException e) {
					ourLog.warn("Binary/{} could not be recorded in the instance ledger: {}", id, e.toString());
				}
			}
			join(changes);
			count += changes.size();
			afterPid = ((Number) page.get(page.size() - 1)[0]).longValue();
		}
	}

	/** Waits for the writes; a failed one is recorded by the writer (ledger FAILED, ERROR log), not thrown here. */
	private void join(List<StudyWriter.Change> theChanges) {
		if (theChanges.isEmpty()) {
			return;
		}
		try {
			myWriter.submit(theChanges).join();
		} catch (RuntimeException e) {
			ourLog.debug("Some study writes failed: {}", e.toString());
		}
	}

	private Binary readBinary(String theId) {
		try {
			return myDaoRegistry.getResourceDao(Binary.class).read(new IdType("Binary", theId), new SystemRequestDetails());
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	private <T> T inTransaction(java.util.function.Supplier<T> theWork) {
		return myTransactions.withSystemRequest().execute(theWork::get);
	}
}
