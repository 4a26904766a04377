package org.dicomfhir.hapi.studywrite;

import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The QIDO attribute index, read side: which studies may match the plan's index conditions
 * ({@code qido/index.rs} makes them and normalises the values; {@link InstanceLedger} writes the
 * rows at ingest). Never misses a study: rows indexed with a tag set that lacks the tag (written
 * before the index, or before the tag was configured) make their studies candidates whatever their
 * values, so a query on them reads their instances as it did without the index. Those studies are
 * found by their set markers in the index itself, not by reading the ledger.
 * <p>
 * Values are bound parameters; a prefix becomes {@code LIKE ? ESCAPE '!'} with {@code ! % _}
 * escaped, so nothing a client sends is a SQL wildcard.
 */
public class AttributeIndex {

	private static final Logger ourLog = LoggerFactory.getLogger(AttributeIndex.class);

	/** How long the known tag sets are reused before being read again. */
	private static final long SETS_MAX_AGE_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(60);

	private final DataSource myDataSource;
	/**
	 * The tag sets, read at most once a minute: queries without an indexed key then cost no round
	 * trip. A set another node added meanwhile is unknown here for up to a minute; its rows then
	 * count as indexed without the tag (candidates whatever their values): slower, never wrong.
	 */
	private volatile List<String[]> mySets;
	private volatile long mySetsReadNanos;

	public AttributeIndex(DataSource theDataSource) {
		myDataSource = theDataSource;
	}

	private List<String[]> knownSets() throws SQLException {
		List<String[]> sets = mySets;
		if (sets == null || System.nanoTime() - mySetsReadNanos > SETS_MAX_AGE_NANOS) {
			try (Connection connection = myDataSource.getConnection()) {
				sets = sets(connection);
			}
			mySets = sets;
			mySetsReadNanos = System.nanoTime();
		}
		return sets;
	}

	/** Records a tag set (id → tags) if missing; every node may do this at once at start-up. */
	public void registerSet(String theSetId, List<String> theTags) {
		try (Connection connection = myDataSource.getConnection()) {
			boolean autoCommit = connection.getAutoCommit();
			connection.setAutoCommit(true);
			try (PreparedStatement insert = connection.prepareStatement("INSERT INTO " + InstanceLedger.SET_TABLE
					+ " (SET_ID, TAGS) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM " + InstanceLedger.SET_TABLE + " WHERE SET_ID = ?)")) {
				insert.setString(1, theSetId);
				insert.setString(2, String.join(",", theTags));
				insert.setString(3, theSetId);
				insert.executeUpdate();
			} catch (SQLException e) {
				ourLog.debug("tag set {}: {}", theSetId, e.toString()); // another node registered it meanwhile
			} finally {
				connection.setAutoCommit(autoCommit);
				mySets = null;
			}
			// No row may name a set the store does not have: queries find a set's markers through it.
			if (sets(connection).stream().noneMatch(set -> set[0].equals(theSetId))) {
				throw new SQLException("the tag set " + theSetId + " was not recorded");
			}
		} catch (SQLException e) {
			throw new IllegalStateException("Cannot record the QIDO index's tag set: " + e.getMessage(), e);
		}
	}

	/**
	 * The Study Instance UIDs that may match every condition the index can answer (AND), or null
	 * when no condition is on an indexed tag or more than {@code theLimit} studies may match (then
	 * the caller narrows as without the index).
	 */
	public Set<String> candidateStudies(JsonNode theConditions, int theLimit) {
		if (!theConditions.isArray() || theConditions.isEmpty()) {
			return null;
		}
		try {
			List<String[]> sets = knownSets();
			Set<String> result = null;
			Connection connection = null;
			try {
				for (JsonNode condition : theConditions) {
					List<String> withTag = setsWith(sets, condition.path("tag").asText());
					if (withTag.isEmpty()) {
						continue; // no instance was ever indexed with this tag: no round trip
					}
					if (connection == null) {
						connection = myDataSource.getConnection();
					}
					Set<String> studies = studies(connection, condition, sets, theLimit + 1);
					if (studies == UNKNOWN_SETS) {
						// Another node registered a set since this one read them: read them again.
						sets = sets(connection);
						mySets = sets;
						mySetsReadNanos = System.nanoTime();
						studies = studies(connection, condition, sets, theLimit + 1);
					}
					if (studies == null || studies == UNKNOWN_SETS) {
						continue; // too broad to help (or the sets still changing): another key, or the search without the index, narrows
					}
					if (result == null) {
						result = studies;
					} else {
						result.retainAll(studies);
					}
				}
			} finally {
				if (connection != null) {
					connection.close();
				}
			}
			return result;
		} catch (SQLException e) {
			throw new IllegalStateException("QIDO attribute index: " + e.getMessage(), e);
		}
	}

	private static List<String> setsWith(List<String[]> theSets, String theTag) {
		List<String> out = new ArrayList<>();
		for (String[] set : theSets) {
			if (List.of(set[1].split(",")).contains(theTag)) {
				out.add(set[0]);
			}
		}
		return out;
	}

	private static List<String[]> sets(Connection theConnection) throws SQLException {
		List<String[]> out = new ArrayList<>();
		try (PreparedStatement select = theConnection.prepareStatement("SELECT SET_ID, TAGS FROM " + InstanceLedger.SET_TABLE);
				ResultSet rows = select.executeQuery()) {
			while (rows.next()) {
				out.add(new String[] {rows.getString(1), rows.getString(2)});
			}
		}
		return out;
	}

	/** What {@link #studies} answers when the store has a tag set this node does not know yet. */
	private static final Set<String> UNKNOWN_SETS = java.util.Collections.unmodifiableSet(new LinkedHashSet<>());

	/**
	 * Studies with a value satisfying the condition, and studies with an instance not indexed with
	 * its tag; null when more than {@code theMax - 1} (too broad), {@link #UNKNOWN_SETS} when the
	 * store has a set not in {@code theSets} (then the answer may be incomplete).
	 */
	private static Set<String> studies(Connection theConnection, JsonNode theCondition, List<String[]> theSets, int theMax)
			throws SQLException {
		List<String> params = new ArrayList<>();
		String sql = candidatesSql(theCondition, theSets, params);
		Set<String> out = new LinkedHashSet<>();
		boolean unknownSet = false;
		int read = 0;
		try (PreparedStatement select = theConnection.prepareStatement(sql)) {
			for (int i = 0; i < params.size(); i++) {
				select.setString(i + 1, params.get(i));
			}
			select.setMaxRows(theMax);
			try (ResultSet rows = select.executeQuery()) {
				while (rows.next()) {
					read++;
					if (rows.getInt(2) == 0) {
						out.add(rows.getString(1));
					} else {
						unknownSet = true;
					}
				}
			}
		}
		if (read >= theMax) {
			return null;
		}
		return unknownSet ? UNKNOWN_SETS : out;
	}

	/**
	 * The statement that names the candidate studies of one condition (rows {@code (study, 0)}),
	 * given the tag sets known here (id, comma-separated tags), plus a row {@code (set id, 1)} for
	 * each set of the store not among them; its parameters are added to {@code params} (public for
	 * plan checks).
	 * <p>
	 * The completeness half: the studies with a set marker ({@link InstanceLedger#SET_MARKER_TAG})
	 * of a set without the tag, {@link InstanceLedger#NO_SET} included (rows written before the
	 * index, or by the reconciler). One equality lookup of the {@code (TAG, VAL)} index per such
	 * set, exact on H2 and PostgreSQL alike: it reads those studies' markers only, nothing when
	 * every instance was indexed with the tag, however large the store (the ledger's
	 * {@code INDEX_SET} has no index, as every upload would pay for it; on H2 an {@code IN} list or
	 * a strict range on {@code VAL} reads the whole {@code INDEXSET} range, a marker per study).
	 * A set registered since this node read them would be missed: the last part names such sets
	 * (every set is registered before any marker of it is written, so a statement that sees a
	 * marker sees its set), and the caller reads the sets again.
	 */
	public static String candidatesSql(JsonNode theCondition, List<String[]> theSets, List<String> params) {
		String tag = theCondition.path("tag").asText();
		params.add(tag);
		StringBuilder sql = new StringBuilder("SELECT DISTINCT STUDY_INSTANCE_UID, 0 FROM " + InstanceLedger.ATTR_TABLE + " WHERE TAG = ? AND ");
		if (theCondition.has("eq")) {
			List<String> values = new ArrayList<>();
			theCondition.get("eq").forEach(v -> values.add(v.asText()));
			sql.append("VAL IN (").append(String.join(", ", java.util.Collections.nCopies(values.size(), "?"))).append(')');
			params.addAll(values);
		} else if (theCondition.has("prefix")) {
			sql.append("VAL LIKE ? ESCAPE '!'");
			params.add(likePrefix(theCondition.get("prefix").asText()));
		} else {
			sql.append("1 = 1");
			if (theCondition.hasNonNull("from")) {
				sql.append(" AND VAL >= ?");
				params.add(theCondition.get("from").asText());
			}
			if (theCondition.hasNonNull("to")) {
				sql.append(" AND VAL <= ?");
				params.add(theCondition.get("to").asText());
			}
		}
		Set<String> without = new java.util.TreeSet<>();
		without.add(InstanceLedger.NO_SET);
		List<String> known = new ArrayList<>();
		for (String[] set : theSets) {
			known.add(set[0]);
			if (!List.of(set[1].split(",")).contains(tag)) {
				without.add(set[0]);
			}
		}
		for (String set : without) {
			sql.append(" UNION SELECT STUDY_INSTANCE_UID, 0 FROM " + InstanceLedger.ATTR_TABLE + " WHERE TAG = '")
					.append(InstanceLedger.SET_MARKER_TAG).append("' AND VAL = ?");
			params.add(set);
		}
		sql.append(" UNION SELECT SET_ID, 1 FROM " + InstanceLedger.SET_TABLE);
		if (!known.isEmpty()) {
			sql.append(" WHERE SET_ID NOT IN (").append(String.join(", ", java.util.Collections.nCopies(known.size(), "?"))).append(')');
			params.addAll(known);
		}
		return sql.toString();
	}

	/** {@code LIKE} pattern of a literal prefix: {@code !}, {@code %} and {@code _} are escaped with {@code !}. */
	static String likePrefix(String thePrefix) {
		StringBuilder out = new StringBuilder(thePrefix.length() + 1);
		for (char c : thePrefix.toCharArray()) {
			if (c == '!' || c == '%' || c == '_') {
				out.append('!');
			}
			out.append(c);
		}
		return out.append('%').toString();
	}
}
