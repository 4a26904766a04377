package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import org.springframework.beans.factory.ObjectProvider;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The current version of {@code ImagingStudy/<id>} as the database holds it now, in one indexed
 * query on {@code HFJ_RESOURCE (RES_TYPE, FHIR_ID)}: what the facade's parsed-study cache checks
 * on every request before it serves a copy (a write through any path, on any node sharing the
 * database, bumps {@code RES_VER}; a delete sets {@code RES_DELETED_AT}). {@code HAS_TAGS} is
 * returned too: a tag or security label can be added without a new version ({@code $meta-add}).
 */
public class StudyVersionLookup extends NativeLookup {

	/** One stored ImagingStudy row: its current version, whether it is deleted, whether it carries tags. */
	public record Current(long version, boolean deleted, boolean tagged) {}

	/** The row of one resource found by a search: its id, and as {@link Current}. */
	public record Row(String id, Current current) {}

	public StudyVersionLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** The row of {@code ImagingStudy/<id>}; null when there is none or this lookup is unavailable (HAPI's read decides). */
	public Current current(String theId) {
		return query(settings -> {
			List<?> rows = myEntityManager.createNativeQuery(
							"SELECT RES_VER, RES_DELETED_AT, HAS_TAGS FROM HFJ_RESOURCE WHERE RES_TYPE = 'ImagingStudy' AND FHIR_ID = ?1")
					.setParameter(1, theId)
					.setMaxResults(2)
					.getResultList();
			if (rows.size() != 1) {
				return null;
			}
			Object[] row = (Object[]) rows.get(0);
			return new Current(((Number) row[0]).longValue(), row[1] != null, Boolean.TRUE.equals(row[2]));
		});
	}

	/**
	 * The ImagingStudy rows of these resource ids ({@code RES_ID}, what HAPI's search for ids
	 * returns), in one query per {@value #IN_LIST_CHUNK}; ids that are not an ImagingStudy are absent.
	 * Null when this lookup is unavailable (HAPI's search decides).
	 */
	public Map<Long, Row> byResourceIds(Collection<Long> theResourceIds) {
		List<Long> ids = new ArrayList<>(theResourceIds);
		return query(settings -> {
			Map<Long, Row> out = new HashMap<>();
			for (int from = 0; from < ids.size(); from += IN_LIST_CHUNK) {
				List<?> rows = myEntityManager.createNativeQuery(
								"SELECT RES_ID, FHIR_ID, RES_VER, RES_DELETED_AT, HAS_TAGS FROM HFJ_RESOURCE"
										+ " WHERE RES_TYPE = 'ImagingStudy' AND RES_ID IN (:ids)")
						.setParameter("ids", ids.subList(from, Math.min(ids.size(), from + IN_LIST_CHUNK)))
						.getResultList();
				for (Object r : rows) {
					Object[] row = (Object[]) r;
					out.put(((Number) row[0]).longValue(), new Row((String) row[1],
							new Current(((Number) row[2]).longValue(), row[3] != null, Boolean.TRUE.equals(row[4]))));
				}
			}
			return out;
		});
	}
}
