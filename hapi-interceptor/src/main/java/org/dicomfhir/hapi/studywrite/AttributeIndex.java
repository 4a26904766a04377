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
					Set<String> studies = studies(connection, condition, withTag, theLimit + 1);
					if (studies.size() > theLimit) {
						continue; // too broad to help: another key, or the search without the index, narrows
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

	/** Studies with a value satisfying the condition, and studies with a row not indexed with its tag. */
	private static Set<String> studies(Connection theConnection, JsonNode theCondition, List<String> theSetsWithTag, int theMax)
			throws SQLException {
		List<String> params = new ArrayList<>();
		String sql = candidatesSql(theCondition, theSetsWithTag, params);
		Set<String> out = new LinkedHashSet<>();
		try (PreparedStatement select = theConnection.prepareStatement(sql)) {
			for (int i = 0; i < params.size(); i++) {
				select.setString(i + 1, params.get(i));
			}
			select.setMaxRows(theMax);
			try (ResultSet rows = select.executeQuery()) {
				while (rows.next()) {
					out.add(rows.getString(1));
				}
			}
		}
		return out;
	}

	/**
	 * The statement that names the candidate studies of one condition, given the tag sets that
	 * have its tag; its parameters are added to {@code theParams} (public for plan checks).
	 */
	public static String candidatesSql(JsonNode theCondition, List<String> theSetsWithTag, List<String> params) {
		params.add(theCondition.path("tag").asText());
		StringBuilder sql = new StringBuilder("SELECT DISTINCT STUDY_INSTANCE_UID FROM " + InstanceLedger.ATTR_TABLE + " WHERE TAG = ? AND ");
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
		appendStudiesOfOtherSets(sql, params, theSetsWithTag);
		return sql.toString();
	}

	/**
	 * The completeness half: studies with a set marker ({@link InstanceLedger#SET_MARKER_TAG}) of
	 * any set but those with the tag, i.e. with an instance indexed without it, written before the
	 * index ({@link InstanceLedger#NO_SET}), or of a set this node does not know yet. "Any value but
	 * these" as the ranges between them, so each part is a range of the {@code (TAG, VAL)} index on
	 * H2 and PostgreSQL alike and reads only the markers of the other sets: nothing when every
	 * instance was indexed with the tag, however large the store (a {@code NOT IN} would read every
	 * study's marker; the ledger's {@code INDEX_SET} has no index, as every upload would pay for it).
	 * The bounds compare as Java strings and {@code VAL} byte-wise ({@code COLLATE "C"} on
	 * PostgreSQL, H2's default), so the ranges leave out exactly the given sets.
	 */
	private static void appendStudiesOfOtherSets(StringBuilder theSql, List<String> theParams, List<String> theSetsWithTag) {
		List<String> bounds = new ArrayList<>(new java.util.TreeSet<>(theSetsWithTag));
		String marker = " UNION SELECT STUDY_INSTANCE_UID FROM " + InstanceLedger.ATTR_TABLE + " WHERE TAG = '"
				+ InstanceLedger.SET_MARKER_TAG + "'";
		for (int i = 0; i <= bounds.size(); i++) {
			theSql.append(marker);
			if (i > 0) {
				theSql.append(" AND VAL > ?");
				theParams.add(bounds.get(i - 1));
			}
			if (i < bounds.size()) {
				theSql.append(" AND VAL < ?");
				theParams.add(bounds.get(i));
			}
		}
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
