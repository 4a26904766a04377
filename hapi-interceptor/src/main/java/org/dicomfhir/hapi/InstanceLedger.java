package org.dicomfhir.hapi;

import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.Query;
import org.hibernate.query.NativeQuery;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The plugin's own table of stored DICOM instances ({@code DFH_INSTANCE}): one row per SOP
 * Instance UID with its Binary, its study, its patient and whether its ImagingStudy lists it yet.
 * Rows are written in the same database transaction as the Binary they describe, so:
 * <ul>
 *   <li>one SOP Instance UID is one instance in the database, not in one JVM: the primary key
 *       refuses a second instance under the same UID, on any node;</li>
 *   <li>it is the outbox of study writes: a row stays {@link State#PENDING} until the study write
 *       that lists it commits (same transaction), so an upload acknowledged before a crash is
 *       found again at start-up, whatever the node's id ({@link StudyIndexReconciler});</li>
 *   <li>every instance of a study agrees on the patient: a disagreeing row is found with one
 *       indexed query.</li>
 * </ul>
 * Plain SQL that H2 and PostgreSQL both accept; the table is created at start-up if missing.
 */
public class InstanceLedger {

	private static final Logger ourLog = LoggerFactory.getLogger(InstanceLedger.class);
	static final String TABLE = "DFH_INSTANCE";
	private static final int IN_LIST_CHUNK = 500;
	/** Longest failure reason kept (the column's size). */
	private static final int FAILURE_LENGTH = 1000;

	/** Where an instance is on its way into (or out of) its ImagingStudy. */
	public enum State {
		/** Stored; its ImagingStudy does not list it yet. */
		PENDING,
		/** Listed by its ImagingStudy. */
		LISTED,
		/** Its Binary is deleted; its ImagingStudy still lists it. */
		REMOVING,
		/** The study write failed for a reason retrying will not fix by itself (see the failure). */
		FAILED
	}

	/** One row. */
	public record Row(String sopInstanceUid, String studyInstanceUid, String binaryId, String patientSystem,
			String patientValue, State state, long changedMillis, String failure) {

		/** The patient as the instance names it, for messages. */
		String patient() {
			return describePatient(patientSystem, patientValue);
		}
	}

	private final DataSource myDataSource;

	@PersistenceContext
	private EntityManager myEntityManager;

	public InstanceLedger(DataSource theDataSource) {
		myDataSource = theDataSource;
	}

	/** Creates the table and its indexes when missing (every node may run this at once). */
	public void createTableIfMissing() {
		String[] ddl = {
			"CREATE TABLE IF NOT EXISTS " + TABLE + " ("
					+ " SOP_INSTANCE_UID VARCHAR(64) NOT NULL PRIMARY KEY,"
					+ " STUDY_INSTANCE_UID VARCHAR(64) NOT NULL,"
					+ " BINARY_ID VARCHAR(64) NOT NULL,"
					+ " PATIENT_SYSTEM VARCHAR(1024) NOT NULL,"
					+ " PATIENT_VALUE VARCHAR(1024) NOT NULL,"
					+ " STATE VARCHAR(16) NOT NULL,"
					+ " CHANGED_MILLIS BIGINT NOT NULL,"
					+ " FAILURE VARCHAR(" + FAILURE_LENGTH + "))",
			"CREATE INDEX IF NOT EXISTS DFH_INSTANCE_STUDY ON " + TABLE + " (STUDY_INSTANCE_UID)",
			"CREATE INDEX IF NOT EXISTS DFH_INSTANCE_BINARY ON " + TABLE + " (BINARY_ID)",
			"CREATE INDEX IF NOT EXISTS DFH_INSTANCE_STATE ON " + TABLE + " (STATE, CHANGED_MILLIS)"
		};
		try (Connection connection = myDataSource.getConnection(); Statement statement = connection.createStatement()) {
			boolean autoCommit = connection.getAutoCommit();
			connection.setAutoCommit(true);
			for (String sql : ddl) {
				try {
					statement.execute(sql);
				} catch (SQLException e) {
					// Two nodes creating the same table at the same moment: the loser finds it there.
					ourLog.debug("{}: {}", sql, e.toString());
				}
			}
			connection.setAutoCommit(autoCommit);
		} catch (SQLException e) {
			throw new IllegalStateException("Cannot create the table " + TABLE + " of the dicom-fhir plugin: " + e.getMessage(), e);
		}
	}

	/** What the ledger holds for an upload: the row of its SOP Instance UID, and one row of its study. */
	public record Lookup(Row sameInstance, Row sameStudy) {}

	/**
	 * The row of this SOP Instance UID and any one row of this study that is not on its way out,
	 * in one round trip (an upload asks both). Every instance of a study names the same patient
	 * (the storage hook refuses any other), so one row tells the study's patient: an index lookup,
	 * whatever the study's size.
	 */
	public Lookup lookup(String theSopInstanceUid, String theStudyUid) {
		List<Row> rows = rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1"
						+ " UNION ALL SELECT " + COLUMNS + " FROM (SELECT " + COLUMNS + " FROM " + TABLE
						+ " WHERE STUDY_INSTANCE_UID = ?2 AND STATE <> 'REMOVING' FETCH FIRST 1 ROWS ONLY) ANY_OF_STUDY")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theStudyUid));
		Row sameInstance = null;
		Row sameStudy = null;
		for (Row row : rows) {
			if (sameInstance == null && row.sopInstanceUid().equals(theSopInstanceUid)) {
				sameInstance = row;
			} else {
				sameStudy = row;
			}
		}
		if (sameStudy == null && sameInstance != null && sameInstance.state() != State.REMOVING
				&& sameInstance.studyInstanceUid().equals(theStudyUid)) {
			sameStudy = sameInstance; // the study's one row is this instance's
		}
		return new Lookup(sameInstance, sameStudy);
	}

	/** The row of a SOP Instance UID, or null. Runs in the caller's transaction. */
	public Row find(String theSopInstanceUid) {
		List<Row> rows = rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1")
				.setParameter(1, theSopInstanceUid));
		return rows.isEmpty() ? null : rows.get(0);
	}

	/** The row whose instance is stored as this Binary, or null. */
	public Row findByBinary(String theBinaryId) {
		List<Row> rows = rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE BINARY_ID = ?1").setParameter(1, theBinaryId));
		return rows.isEmpty() ? null : rows.get(0);
	}

	/** Whether any instance of this study is stored (and not on its way out). */
	public boolean studyHasInstances(String theStudyUid) {
		return !query("SELECT SOP_INSTANCE_UID FROM " + TABLE + " WHERE STUDY_INSTANCE_UID = ?1 AND STATE <> 'REMOVING'")
				.setParameter(1, theStudyUid)
				.setMaxResults(1)
				.getResultList()
				.isEmpty();
	}

	/**
	 * Records a new instance as {@link State#PENDING}. Another transaction inserting the same SOP
	 * Instance UID makes one of the two fail on the primary key (the database decides, on any node).
	 */
	public void insertPending(String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem,
			String thePatientValue) {
		query("INSERT INTO " + TABLE + " (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, BINARY_ID, PATIENT_SYSTEM, PATIENT_VALUE, STATE,"
						+ " CHANGED_MILLIS) VALUES (?1, ?2, ?3, ?4, ?5, 'PENDING', ?6)")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theStudyUid)
				.setParameter(3, theBinaryId)
				.setParameter(4, thePatientSystem)
				.setParameter(5, thePatientValue)
				.setParameter(6, System.currentTimeMillis())
				.executeUpdate();
	}

	/** Points an existing row at (possibly other) bytes, pending again: a re-upload after a delete, or a replacement. */
	public void repoint(String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem, String thePatientValue) {
		query("UPDATE " + TABLE + " SET STUDY_INSTANCE_UID = ?2, BINARY_ID = ?3, PATIENT_SYSTEM = ?4, PATIENT_VALUE = ?5,"
						+ " STATE = 'PENDING', CHANGED_MILLIS = ?6, FAILURE = NULL WHERE SOP_INSTANCE_UID = ?1")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theStudyUid)
				.setParameter(3, theBinaryId)
				.setParameter(4, thePatientSystem)
				.setParameter(5, thePatientValue)
				.setParameter(6, System.currentTimeMillis())
				.executeUpdate();
	}

	/** The Binary of this instance is being deleted: it stays on the books until its study no longer lists it. */
	public void markRemoving(String theSopInstanceUid, String theBinaryId) {
		query("UPDATE " + TABLE + " SET STATE = 'REMOVING', CHANGED_MILLIS = ?3, FAILURE = NULL"
						+ " WHERE SOP_INSTANCE_UID = ?1 AND BINARY_ID = ?2")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theBinaryId)
				.setParameter(3, System.currentTimeMillis())
				.executeUpdate();
	}

	/** The study write that lists these instances (SOP Instance UID, Binary id) is in this transaction. */
	public void markListed(Collection<String> theSopInstanceUids, Collection<String> theBinaryIds) {
		List<String> uids = new ArrayList<>(theSopInstanceUids);
		List<String> binaries = new ArrayList<>(theBinaryIds);
		long now = System.currentTimeMillis();
		for (int i = 0; i < uids.size(); i += IN_LIST_CHUNK) {
			query("UPDATE " + TABLE + " SET STATE = 'LISTED', CHANGED_MILLIS = ?3, FAILURE = NULL"
							+ " WHERE SOP_INSTANCE_UID IN (?1) AND BINARY_ID IN (?2) AND STATE IN ('PENDING', 'FAILED')")
					.setParameter(1, uids.subList(i, Math.min(uids.size(), i + IN_LIST_CHUNK)))
					.setParameter(2, binaries)
					.setParameter(3, now)
					.executeUpdate();
		}
	}

	/** The study write that drops these instances is in this transaction: their rows go. */
	public void removeRemoved(Collection<String> theSopInstanceUids) {
		List<String> uids = new ArrayList<>(theSopInstanceUids);
		for (int i = 0; i < uids.size(); i += IN_LIST_CHUNK) {
			query("DELETE FROM " + TABLE + " WHERE SOP_INSTANCE_UID IN (?1) AND STATE = 'REMOVING'")
					.setParameter(1, uids.subList(i, Math.min(uids.size(), i + IN_LIST_CHUNK)))
					.executeUpdate();
		}
	}

	/** A row whose Binary no longer exists and that no study lists: it goes. */
	public void forget(String theSopInstanceUid, String theBinaryId) {
		query("DELETE FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1 AND BINARY_ID = ?2")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theBinaryId)
				.executeUpdate();
	}

	/** The write of these instances failed for good, for this reason (kept for the operator). */
	public void markFailed(Collection<String> theSopInstanceUids, String theReason) {
		String reason = theReason == null ? "unknown" : theReason.length() > FAILURE_LENGTH ? theReason.substring(0, FAILURE_LENGTH) : theReason;
		List<String> uids = new ArrayList<>(theSopInstanceUids);
		for (int i = 0; i < uids.size(); i += IN_LIST_CHUNK) {
			query("UPDATE " + TABLE + " SET STATE = 'FAILED', FAILURE = ?2, CHANGED_MILLIS = ?3"
							+ " WHERE SOP_INSTANCE_UID IN (?1) AND STATE = 'PENDING'")
					.setParameter(1, uids.subList(i, Math.min(uids.size(), i + IN_LIST_CHUNK)))
					.setParameter(2, reason)
					.setParameter(3, System.currentTimeMillis())
					.executeUpdate();
		}
	}

	/**
	 * Rows in one of these states that last changed before {@code theChangedBefore}, after the SOP
	 * Instance UID {@code theAfter} (keyset paging: null for the first page), at most {@code theLimit}.
	 */
	public List<Row> inStates(Collection<State> theStates, long theChangedBefore, String theAfter, int theLimit) {
		return rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE STATE IN (?1) AND CHANGED_MILLIS < ?2"
						+ " AND SOP_INSTANCE_UID > ?3 ORDER BY SOP_INSTANCE_UID")
				.setParameter(1, theStates.stream().map(Enum::name).toList())
				.setParameter(2, theChangedBefore)
				.setParameter(3, theAfter == null ? "" : theAfter)
				.setMaxResults(theLimit));
	}

	/** Number of rows in a state. */
	public long count(State theState) {
		return ((Number) query("SELECT COUNT(*) FROM " + TABLE + " WHERE STATE = ?1").setParameter(1, theState.name())
				.getSingleResult()).longValue();
	}

	/** Whether the table holds any row at all (an empty ledger on a store with DICOM Binaries is filled at start-up). */
	public boolean isEmpty() {
		return query("SELECT SOP_INSTANCE_UID FROM " + TABLE).setMaxResults(1).getResultList().isEmpty();
	}

	static String describePatient(String theSystem, String theValue) {
		return "PatientID '" + theValue + "' (identifier system " + theSystem + ")";
	}

	private static final String COLUMNS =
			"SOP_INSTANCE_UID, STUDY_INSTANCE_UID, BINARY_ID, PATIENT_SYSTEM, PATIENT_VALUE, STATE, CHANGED_MILLIS, FAILURE";

	/**
	 * A native query that Hibernate knows touches only this table: it then does not flush the
	 * session's other entities before running it (what an AUTO flush would do for any native SQL).
	 */
	private Query query(String theSql) {
		Query query = myEntityManager.createNativeQuery(theSql);
		query.unwrap(NativeQuery.class).addSynchronizedQuerySpace(TABLE);
		return query;
	}

	@SuppressWarnings("unchecked")
	private static List<Row> rows(Query theQuery) {
		List<Row> out = new ArrayList<>();
		for (Object[] r : (List<Object[]>) theQuery.getResultList()) {
			out.add(new Row((String) r[0], (String) r[1], (String) r[2], (String) r[3], (String) r[4], State.valueOf((String) r[5]),
					((Number) r[6]).longValue(), (String) r[7]));
		}
		return out;
	}
}
