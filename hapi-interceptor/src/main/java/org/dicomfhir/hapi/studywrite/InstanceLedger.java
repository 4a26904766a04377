package org.dicomfhir.hapi.studywrite;

import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.Query;
import org.dicomfhir.bridge.DicomInstance;
import org.hibernate.Session;
import org.hibernate.query.NativeQuery;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The plugin's own table of stored DICOM instances ({@code DFH_INSTANCE}): one row per SOP
 * Instance UID with its Binary, its study, its patient and whether its ImagingStudy lists it yet.
 * Rows are written in the same database transaction as the Binary they describe, so:
 * <ul>
 *   <li>one SOP Instance UID is one instance in the database, not in one JVM: the primary key
 *       refuses a second instance under the same UID, on any node;</li>
 *   <li>it is the outbox of study writes: a row stays {@link State#PENDING} until the study write
 *       that lists it commits (same transaction), so an upload acknowledged before a crash is
 *       found again at start-up, whatever the node's id ({@code org.dicomfhir.hapi.ingest.StudyIndexReconciler});</li>
 *   <li>every instance of a study agrees on the patient: the study's first upload claims the
 *       study for its patient with a row of {@code DFH_STUDY}, whose primary key makes two
 *       first uploads naming two patients (on any nodes) meet in the database
 *       ({@link #claimStudy}).</li>
 * </ul>
 * Plain SQL that H2 and PostgreSQL both accept; the table is created at start-up if missing.
 */
public class InstanceLedger {

	private static final Logger ourLog = LoggerFactory.getLogger(InstanceLedger.class);
	static final String TABLE = "DFH_INSTANCE";
	/** Study Instance UID → the patient its instances name: one row per study with instances. */
	static final String STUDY_TABLE = "DFH_STUDY";
	/**
	 * The QIDO attribute index: (study, tag, normalised value, the instance that wrote it), each
	 * value of an indexed tag once per study (docs/architecture.md, "The instance-level attribute
	 * index"). Written with the instance's ledger row, which records the tag set it was indexed
	 * with ({@code INDEX_SET}).
	 */
	static final String ATTR_TABLE = "DFH_INSTANCE_ATTR";
	/** Tag set id → its tags (comma-separated), one row per set ever configured. */
	static final String SET_TABLE = "DFH_INDEX_SET";
	/**
	 * The pseudo tag of a set marker: a row (study, {@code INDEXSET}, set id) of {@link #ATTR_TABLE}
	 * says the study has (had) an instance indexed with that set, so a query on a tag the set lacks
	 * finds the study through the {@code (TAG, VAL)} index instead of scanning this ledger
	 * (docs/architecture.md, "Completeness without a ledger scan"). Not hex: never a DICOM tag.
	 */
	static final String SET_MARKER_TAG = "INDEXSET";
	/**
	 * The set of rows written without one (before the index, or by the reconciler): it lacks every
	 * tag. Recorded in {@link #SET_TABLE} once the rows written before set markers have theirs.
	 */
	static final String NO_SET = "none";
	private static final int IN_LIST_CHUNK = 500;
	/** Longest failure reason kept (the column's size). */
	private static final int FAILURE_LENGTH = 1000;
	/** The core's longest indexed value ({@code qido::MAX_VALUE_CHARS}): values arrive cut to it. */
	static final int ATTR_VALUE_CHARS = 64;

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
	/** Key of this ledger's per-transaction memory of index values ({@link #indexedInThisTransaction}). */
	private final Object myIndexedKey = new Object();

	@PersistenceContext
	private EntityManager myEntityManager;

	public InstanceLedger(DataSource theDataSource) {
		myDataSource = theDataSource;
	}

	/**
	 * Creates the tables and their indexes when missing (every node may run this at once).
	 * <p>
	 * Each index is one more B-tree page written by every upload's commit (about 7 KiB on H2,
	 * measured with {@code bench/profile_ingest.py}), so only the lookups an upload or a study write
	 * makes are indexed: by SOP Instance UID (the key) and by study. Rows by state are what the
	 * reconciler looks for, once a minute: PostgreSQL indexes only the few rows not yet listed (a
	 * partial index); H2, which has no partial indexes, scans. A Binary's row is found through its
	 * study ({@link #findByBinary}), not an index of its own. Stores made before drop those indexes.
	 * Rows written before the QIDO index's set markers get theirs ({@link #markEarlierRowsOnce}).
	 */
	public void createTableIfMissing() {
		boolean postgres = isPostgres();
		List<String> ddl = new ArrayList<>(List.of(
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
			"DROP INDEX IF EXISTS DFH_INSTANCE_BINARY",
			"DROP INDEX IF EXISTS DFH_INSTANCE_STATE",
			"CREATE TABLE IF NOT EXISTS " + STUDY_TABLE + " ("
					+ " STUDY_INSTANCE_UID VARCHAR(64) NOT NULL PRIMARY KEY,"
					+ " PATIENT_SYSTEM VARCHAR(1024) NOT NULL,"
					+ " PATIENT_VALUE VARCHAR(1024) NOT NULL)",
			// Rows written before the index have no set: a query reads their instances, as before.
			"ALTER TABLE " + TABLE + " ADD COLUMN IF NOT EXISTS INDEX_SET VARCHAR(16)",
			// Values compare byte-wise on PostgreSQL too (COLLATE "C"), so LIKE 'prefix%' and DA
			// ranges use the B-tree whatever the database's collation.
			"CREATE TABLE IF NOT EXISTS " + ATTR_TABLE + " ("
					+ " SOP_INSTANCE_UID VARCHAR(64) NOT NULL,"
					+ " STUDY_INSTANCE_UID VARCHAR(64) NOT NULL,"
					+ " TAG CHAR(8) NOT NULL,"
					+ " VAL VARCHAR(" + ATTR_VALUE_CHARS + ")" + (postgres ? " COLLATE \"C\"" : "") + " NOT NULL,"
					+ " PRIMARY KEY (STUDY_INSTANCE_UID, TAG, VAL, SOP_INSTANCE_UID))",
			"CREATE INDEX IF NOT EXISTS DFH_INSTANCE_ATTR_VALUE ON " + ATTR_TABLE + " (TAG, VAL, STUDY_INSTANCE_UID)",
			"CREATE TABLE IF NOT EXISTS " + SET_TABLE + " ("
					+ " SET_ID VARCHAR(16) NOT NULL PRIMARY KEY,"
					+ " TAGS VARCHAR(8000) NOT NULL)"));
		if (postgres) {
			ddl.add("CREATE INDEX IF NOT EXISTS DFH_INSTANCE_UNFINISHED ON " + TABLE
					+ " (STATE, CHANGED_MILLIS) WHERE STATE <> 'LISTED'");
		}
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
		markEarlierRowsOnce();
	}

	/**
	 * Once per store: the set markers of the rows written before markers existed (one scan of this
	 * table, at the first start-up of a version with markers), then {@link #NO_SET} is recorded in
	 * {@link #SET_TABLE} to say it is done. Later rows get theirs with their values ({@link #writeIndex}).
	 */
	public void markEarlierRowsOnce() {
		try (Connection connection = myDataSource.getConnection()) {
			boolean autoCommit = connection.getAutoCommit();
			connection.setAutoCommit(true);
			try {
				try (PreparedStatement done = connection.prepareStatement("SELECT 1 FROM " + SET_TABLE + " WHERE SET_ID = ?")) {
					done.setString(1, NO_SET);
					try (ResultSet rows = done.executeQuery()) {
						if (rows.next()) {
							return;
						}
					}
				}
				int marked = markEarlierRows(connection);
				try (PreparedStatement record = connection.prepareStatement("INSERT INTO " + SET_TABLE
						+ " (SET_ID, TAGS) SELECT ?, '' WHERE NOT EXISTS (SELECT 1 FROM " + SET_TABLE + " WHERE SET_ID = ?)")) {
					record.setString(1, NO_SET);
					record.setString(2, NO_SET);
					record.executeUpdate();
				}
				ourLog.info("QIDO attribute index: {} set markers written for the instances stored before them", marked);
			} finally {
				connection.setAutoCommit(autoCommit);
			}
		} catch (SQLException e) {
			// Another node marking at the same moment (same keys): its markers are there or will be.
			if (!isKeyConflict(e)) {
				throw new IllegalStateException("Cannot write the QIDO index's set markers: " + e.getMessage(), e);
			}
			ourLog.debug("set markers: {}", e.toString());
		}
	}

	/**
	 * Writes the set marker of every (study, set) of this table that has none: {@link #NO_SET} for
	 * rows without a set. Returns how many were written.
	 */
	public int markEarlierRows() {
		try (Connection connection = myDataSource.getConnection()) {
			boolean autoCommit = connection.getAutoCommit();
			connection.setAutoCommit(true);
			try {
				return markEarlierRows(connection);
			} finally {
				connection.setAutoCommit(autoCommit);
			}
		} catch (SQLException e) {
			throw new IllegalStateException("Cannot write the QIDO index's set markers: " + e.getMessage(), e);
		}
	}

	private static int markEarlierRows(Connection theConnection) throws SQLException {
		String set = "COALESCE(I.INDEX_SET, '" + NO_SET + "')";
		try (Statement statement = theConnection.createStatement()) {
			return statement.executeUpdate("INSERT INTO " + ATTR_TABLE + " (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, TAG, VAL)"
					+ " SELECT MIN(I.SOP_INSTANCE_UID), I.STUDY_INSTANCE_UID, '" + SET_MARKER_TAG + "', " + set + " FROM " + TABLE + " I"
					+ " WHERE NOT EXISTS (SELECT 1 FROM " + ATTR_TABLE + " A WHERE A.STUDY_INSTANCE_UID = I.STUDY_INSTANCE_UID"
					+ " AND A.TAG = '" + SET_MARKER_TAG + "' AND A.VAL = " + set + ")"
					+ " GROUP BY I.STUDY_INSTANCE_UID, " + set);
		}
	}

	private boolean isPostgres() {
		try (Connection connection = myDataSource.getConnection()) {
			return connection.getMetaData().getDatabaseProductName().toLowerCase(java.util.Locale.ROOT).contains("postgres");
		} catch (SQLException e) {
			throw new IllegalStateException("Cannot reach the database of the dicom-fhir plugin: " + e.getMessage(), e);
		}
	}

	/** A patient identity as the ledger keeps it: identifier system ("" for none) and value. */
	public record Patient(String system, String value) {
		@Override
		public String toString() {
			return describePatient(system, value);
		}

		/** The patient identity of an instance: its identifier (system, value), "" for a missing part; never null. */
		public static Patient of(DicomInstance theInstance) {
			return new Patient(theInstance.patientIdentifierSystem() == null ? "" : theInstance.patientIdentifierSystem(),
					theInstance.patientIdentifierValue() == null ? "" : theInstance.patientIdentifierValue());
		}
	}

	/**
	 * What the ledger holds for an upload: the row of its SOP Instance UID, the patient its study
	 * belongs to (null for a study with no instance), and whether that comes from the study's
	 * claim ({@link #claimStudy}) or only from one of its instances (a store from before claims).
	 */
	public record Lookup(Row sameInstance, Patient studyPatient, boolean studyClaimed) {}

	/**
	 * The row of this SOP Instance UID, the study's claim and any one row of this study that is not
	 * on its way out, in one round trip (an upload asks all three). Every instance of a study names
	 * the same patient (the storage hook refuses any other), so one row tells the study's patient:
	 * index lookups, whatever the study's size.
	 */
	public Lookup lookup(String theSopInstanceUid, String theStudyUid) {
		@SuppressWarnings("unchecked")
		List<Object[]> rows = query("SELECT 'I' AS KIND, " + COLUMNS + " FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1"
						+ " UNION ALL SELECT 'S', " + COLUMNS + " FROM (SELECT " + COLUMNS + " FROM " + TABLE
						+ " WHERE STUDY_INSTANCE_UID = ?2 AND STATE <> 'REMOVING' FETCH FIRST 1 ROWS ONLY) ANY_OF_STUDY"
						+ " UNION ALL SELECT 'C', NULL, STUDY_INSTANCE_UID, NULL, PATIENT_SYSTEM, PATIENT_VALUE, NULL, 0, NULL"
						+ " FROM " + STUDY_TABLE + " WHERE STUDY_INSTANCE_UID = ?2")
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theStudyUid)
				.getResultList();
		Row sameInstance = null;
		Patient ofAnInstance = null;
		Patient claimed = null;
		for (Object[] r : rows) {
			switch (String.valueOf(r[0])) { // a one-letter literal comes back as a Character
				case "I" -> sameInstance = row(r, 1);
				case "S" -> ofAnInstance = new Patient((String) r[4], (String) r[5]);
				default -> claimed = new Patient((String) r[4], (String) r[5]);
			}
		}
		if (claimed != null) {
			return new Lookup(sameInstance, claimed, true);
		}
		return new Lookup(sameInstance, ofAnInstance, false);
	}

	/**
	 * Claims a study for a patient in the caller's transaction and returns the patient that holds
	 * it: this one, or the one whose claim is already committed. A claim that another transaction
	 * made and has not committed yet is waited for (the primary key's lock): two first uploads of a
	 * study naming two patients, on one node or two, cannot both pass. Null when that wait timed out
	 * (the caller answers "being stored right now, send again").
	 */
	public Patient claimStudy(String theStudyUid, String thePatientSystem, String thePatientValue) {
		Session session = myEntityManager.unwrap(Session.class);
		return session.doReturningWork(connection -> {
			// A failed statement must not fail the upload's transaction (PostgreSQL would abort it):
			// the insert runs under a savepoint.
			Savepoint savepoint = connection.setSavepoint();
			try (PreparedStatement insert = connection.prepareStatement("INSERT INTO " + STUDY_TABLE
					+ " (STUDY_INSTANCE_UID, PATIENT_SYSTEM, PATIENT_VALUE) VALUES (?, ?, ?)")) {
				insert.setString(1, theStudyUid);
				insert.setString(2, thePatientSystem);
				insert.setString(3, thePatientValue);
				insert.executeUpdate();
				connection.releaseSavepoint(savepoint);
				return new Patient(thePatientSystem, thePatientValue);
			} catch (SQLException e) {
				if (!isKeyConflict(e)) {
					throw e;
				}
				connection.rollback(savepoint);
			}
			try (PreparedStatement select = connection.prepareStatement("SELECT PATIENT_SYSTEM, PATIENT_VALUE FROM "
					+ STUDY_TABLE + " WHERE STUDY_INSTANCE_UID = ?")) {
				select.setString(1, theStudyUid);
				try (ResultSet result = select.executeQuery()) {
					return result.next() ? new Patient(result.getString(1), result.getString(2)) : null;
				}
			}
		});
	}

	/**
	 * A unique violation (SQLState class 23: the other claim committed first), or a wait for the
	 * other transaction's uncommitted claim that timed out (H2: HYT00) or was chosen to fail
	 * (class 40: deadlock, serialization).
	 */
	public static boolean isKeyConflict(SQLException theError) {
		String state = theError.getSQLState();
		return state != null && (state.startsWith("23") || state.startsWith("40") || "HYT00".equals(state));
	}

	/**
	 * The patient a study's ImagingStudy is filed under: that of the instances it lists, else its
	 * claim; null for neither. The study writer lists only instances naming this patient.
	 */
	public Patient studyOwner(String theStudyUid) {
		@SuppressWarnings("unchecked")
		List<Object[]> rows = query("SELECT 1 AS RANK, PATIENT_SYSTEM, PATIENT_VALUE FROM (SELECT PATIENT_SYSTEM, PATIENT_VALUE FROM "
						+ TABLE + " WHERE STUDY_INSTANCE_UID = ?1 AND STATE IN ('LISTED', 'REMOVING') FETCH FIRST 1 ROWS ONLY) LISTED_ONE"
						+ " UNION ALL SELECT 2, PATIENT_SYSTEM, PATIENT_VALUE FROM " + STUDY_TABLE + " WHERE STUDY_INSTANCE_UID = ?1")
				.setParameter(1, theStudyUid)
				.getResultList();
		return rows.stream()
				.min(java.util.Comparator.comparingInt(r -> ((Number) r[0]).intValue()))
				.map(r -> new Patient((String) r[1], (String) r[2]))
				.orElse(null);
	}

	/**
	 * Drops the claim of a study none of whose instances is left (deleted, or never listed), so
	 * its Study Instance UID can be stored again, e.g. corrected for the right patient.
	 */
	public void releaseStudyIfEmpty(String theStudyUid) {
		query("DELETE FROM " + STUDY_TABLE + " WHERE STUDY_INSTANCE_UID = ?1"
						+ " AND NOT EXISTS (SELECT 1 FROM " + TABLE + " WHERE STUDY_INSTANCE_UID = ?1)")
				.setParameter(1, theStudyUid)
				.executeUpdate();
		// The study's index rows go with its last instance (while it has instances they stay: a
		// value an instance kept out as already there must not vanish with another instance).
		int dropped = query("DELETE FROM " + ATTR_TABLE + " WHERE STUDY_INSTANCE_UID = ?1"
						+ " AND NOT EXISTS (SELECT 1 FROM " + TABLE + " WHERE STUDY_INSTANCE_UID = ?1)")
				.setParameter(1, theStudyUid)
				.executeUpdate();
		if (dropped > 0) {
			// what this transaction wrote of the study's index is gone: written again if needed
			indexedInThisTransaction().removeIf(k -> k.startsWith(theStudyUid + '\u0000'));
		}
	}

	/** The row of a SOP Instance UID, or null. Runs in the caller's transaction. */
	public Row find(String theSopInstanceUid) {
		List<Row> rows = rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1")
				.setParameter(1, theSopInstanceUid));
		return rows.isEmpty() ? null : rows.get(0);
	}

	/**
	 * The row whose instance is stored as this Binary, or null. With the Binary's study (its
	 * securityContext) the study's index finds it; without (a Binary stored before securityContext
	 * was set) the table is scanned: BINARY_ID has no index, as every upload would pay for it.
	 */
	public Row findByBinary(String theBinaryId, String theStudyUid) {
		Query select = theStudyUid == null
				? query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE BINARY_ID = ?1")
				: query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE STUDY_INSTANCE_UID = ?2 AND BINARY_ID = ?1")
						.setParameter(2, theStudyUid);
		List<Row> rows = rows(select.setParameter(1, theBinaryId));
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
		insertPending(theSopInstanceUid, theStudyUid, theBinaryId, thePatientSystem, thePatientValue, null);
	}

	/** {@link #insertPending}, with the instance's values of the QIDO index (null: not indexed). */
	public void insertPending(String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem,
			String thePatientValue, DicomInstance.QidoIndex theIndex) {
		writeRow("INSERT INTO " + TABLE + " (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, BINARY_ID, PATIENT_SYSTEM, PATIENT_VALUE, STATE,"
						+ " CHANGED_MILLIS, INDEX_SET) VALUES (?1, ?2, ?3, ?4, ?5, 'PENDING', ?6, ?7)",
				theSopInstanceUid, theStudyUid, theBinaryId, thePatientSystem, thePatientValue, theIndex);
		writeIndex(theSopInstanceUid, theStudyUid, theIndex);
	}

	/**
	 * The common upload in one statement: records a new instance as {@link State#PENDING} if its
	 * SOP Instance UID has no row and its study is claimed for this patient. False when either
	 * does not hold (a new study, a re-upload, another patient...): then {@link #lookup} tells
	 * which, and nothing was written.
	 */
	public boolean insertPendingIntoClaimedStudy(String theSopInstanceUid, String theStudyUid, String theBinaryId,
			String thePatientSystem, String thePatientValue, DicomInstance.QidoIndex theIndex) {
		boolean inserted = writeRow("INSERT INTO " + TABLE + " (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, BINARY_ID, PATIENT_SYSTEM, PATIENT_VALUE,"
						+ " STATE, CHANGED_MILLIS, INDEX_SET) SELECT ?1, ?2, ?3, ?4, ?5, 'PENDING', ?6, ?7 FROM " + STUDY_TABLE
						+ " WHERE STUDY_INSTANCE_UID = ?2 AND PATIENT_SYSTEM = ?4 AND PATIENT_VALUE = ?5"
						+ " AND NOT EXISTS (SELECT 1 FROM " + TABLE + " WHERE SOP_INSTANCE_UID = ?1)",
				theSopInstanceUid, theStudyUid, theBinaryId, thePatientSystem, thePatientValue, theIndex) == 1;
		if (inserted) {
			writeIndex(theSopInstanceUid, theStudyUid, theIndex);
		}
		return inserted;
	}

	/** Points an existing row at (possibly other) bytes, pending again: a re-upload after a delete, or a replacement. */
	public void repoint(String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem, String thePatientValue) {
		repoint(theSopInstanceUid, theStudyUid, theBinaryId, thePatientSystem, thePatientValue, null);
	}

	/** {@link #repoint}, with the new bytes' values of the QIDO index (null: not indexed). */
	public void repoint(String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem, String thePatientValue,
			DicomInstance.QidoIndex theIndex) {
		writeRow("UPDATE " + TABLE + " SET STUDY_INSTANCE_UID = ?2, BINARY_ID = ?3, PATIENT_SYSTEM = ?4, PATIENT_VALUE = ?5,"
						+ " STATE = 'PENDING', CHANGED_MILLIS = ?6, FAILURE = NULL, INDEX_SET = ?7 WHERE SOP_INSTANCE_UID = ?1",
				theSopInstanceUid, theStudyUid, theBinaryId, thePatientSystem, thePatientValue, theIndex);
		writeIndex(theSopInstanceUid, theStudyUid, theIndex);
	}

	/** Runs a statement that writes one instance row: ?1 SOP Instance UID … ?5 patient value, ?6 now, ?7 index set. */
	private int writeRow(String theSql, String theSopInstanceUid, String theStudyUid, String theBinaryId, String thePatientSystem,
			String thePatientValue, DicomInstance.QidoIndex theIndex) {
		Query query = query(theSql)
				.setParameter(1, theSopInstanceUid)
				.setParameter(2, theStudyUid)
				.setParameter(3, theBinaryId)
				.setParameter(4, thePatientSystem)
				.setParameter(5, thePatientValue)
				.setParameter(6, System.currentTimeMillis());
		if (theSql.contains("?7")) {
			query.unwrap(NativeQuery.class).setParameter(7, theIndex == null ? null : theIndex.set(), String.class);
		}
		return query.executeUpdate();
	}

	/**
	 * Writes the instance's index values its study does not have yet (one batched statement), in
	 * the caller's transaction. Candidates are studies, so a value is kept once per study: the
	 * instances of a series mostly repeat their series' and study's values, and each row written
	 * is a page of the (TAG, VAL) B-tree changed by the commit (measured: +56 % bytes per upload
	 * with a row per instance and value). Rows stay until the study's last instance goes
	 * ({@link #releaseStudyIfEmpty}); a replaced or deleted instance's values stay meanwhile
	 * (the index is a superset: the core still matches). Two uploads of a study at once may
	 * both write a value: the key has the SOP Instance UID, so they never conflict.
	 */
	private void writeIndex(String theSopInstanceUid, String theStudyUid, DicomInstance.QidoIndex theIndex) {
		// The study's marker of the row's set comes first; like a value, it is written once per study.
		List<String[]> rows = new ArrayList<>();
		rows.add(new String[] {SET_MARKER_TAG, theIndex == null || theIndex.set() == null ? NO_SET : theIndex.set()});
		if (theIndex != null) {
			rows.addAll(theIndex.values());
		}
		// A value this transaction has already inserted or found is there for the rest of it: the
		// parts of one STOW-RS request (one transaction, mostly one study) repeat their study's
		// and series' values, so most parts send no statement at all.
		Set<String> known = indexedInThisTransaction();
		Set<String> keys = new HashSet<>();
		List<String[]> values = new ArrayList<>();
		for (String[] tagValue : rows) {
			String key = theStudyUid + '\u0000' + tagValue[0] + '\u0000' + tagValue[1];
			if (!known.contains(key) && keys.add(key)) {
				values.add(tagValue);
			}
		}
		if (values.isEmpty()) {
			return;
		}
		myEntityManager.unwrap(Session.class).doWork(connection -> {
			try (PreparedStatement insert = connection.prepareStatement("INSERT INTO " + ATTR_TABLE
					+ " (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, TAG, VAL) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
					+ ATTR_TABLE + " WHERE STUDY_INSTANCE_UID = ? AND TAG = ? AND VAL = ?)")) {
				for (String[] tagValue : values) {
					insert.setString(1, theSopInstanceUid);
					insert.setString(2, theStudyUid);
					insert.setString(3, tagValue[0]);
					insert.setString(4, tagValue[1]);
					insert.setString(5, theStudyUid);
					insert.setString(6, tagValue[0]);
					insert.setString(7, tagValue[1]);
					insert.addBatch();
				}
				insert.executeBatch();
			}
		});
		known.addAll(keys);
	}

	/**
	 * The (study, tag, value) triples written or found by the current transaction's index inserts;
	 * forgotten when it ends, committed or not. Kept with the transaction's Hibernate session: a
	 * transaction started inside it (REQUIRES_NEW) has another session, sees none of the outer
	 * one's rows, and remembers nothing. Outside a transaction nothing is remembered.
	 */
	private Set<String> indexedInThisTransaction() {
		if (!TransactionSynchronizationManager.isSynchronizationActive()) {
			return new HashSet<>();
		}
		Session session = myEntityManager.unwrap(Session.class);
		IndexMemory memory = (IndexMemory) TransactionSynchronizationManager.getResource(myIndexedKey);
		if (memory == null) {
			IndexMemory created = new IndexMemory(session, new HashSet<>());
			TransactionSynchronizationManager.bindResource(myIndexedKey, created);
			TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
				@Override
				public void afterCompletion(int theStatus) {
					TransactionSynchronizationManager.unbindResourceIfPossible(myIndexedKey);
				}
			});
			memory = created;
		}
		return memory.session() == session ? memory.keys() : new HashSet<>();
	}

	private record IndexMemory(Session session, Set<String> keys) {}

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
		if (theStates.contains(State.LISTED)) {
			throw new IllegalArgumentException("listed rows are not looked up by state");
		}
		// The literal STATE <> 'LISTED' lets PostgreSQL use its partial index whatever the plan.
		return rows(query("SELECT " + COLUMNS + " FROM " + TABLE + " WHERE STATE <> 'LISTED' AND STATE IN (?1)"
						+ " AND CHANGED_MILLIS < ?2 AND SOP_INSTANCE_UID > ?3 ORDER BY SOP_INSTANCE_UID")
				.setParameter(1, theStates.stream().map(Enum::name).toList())
				.setParameter(2, theChangedBefore)
				.setParameter(3, theAfter == null ? "" : theAfter)
				.setMaxResults(theLimit));
	}

	/** Number of rows in each state (one pass over the table: states are not indexed everywhere). */
	public java.util.Map<State, Long> counts() {
		java.util.Map<State, Long> counts = new java.util.EnumMap<>(State.class);
		@SuppressWarnings("unchecked")
		List<Object[]> rows = query("SELECT STATE, COUNT(*) FROM " + TABLE + " GROUP BY STATE").getResultList();
		for (Object[] r : rows) {
			counts.put(State.valueOf((String) r[0]), ((Number) r[1]).longValue());
		}
		return counts;
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
		query.unwrap(NativeQuery.class).addSynchronizedQuerySpace(TABLE).addSynchronizedQuerySpace(STUDY_TABLE)
				.addSynchronizedQuerySpace(ATTR_TABLE);
		return query;
	}

	@SuppressWarnings("unchecked")
	private static List<Row> rows(Query theQuery) {
		List<Row> out = new ArrayList<>();
		for (Object[] r : (List<Object[]>) theQuery.getResultList()) {
			out.add(row(r, 0));
		}
		return out;
	}

	/** The row whose {@link #COLUMNS} start at {@code theFirst}. */
	private static Row row(Object[] r, int theFirst) {
		int i = theFirst;
		return new Row((String) r[i], (String) r[i + 1], (String) r[i + 2], (String) r[i + 3], (String) r[i + 4],
				State.valueOf((String) r[i + 5]), ((Number) r[i + 6]).longValue(), (String) r[i + 7]);
	}
}
