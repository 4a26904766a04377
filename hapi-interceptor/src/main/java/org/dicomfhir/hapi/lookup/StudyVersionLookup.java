package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import org.springframework.beans.factory.ObjectProvider;

import java.util.List;

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
}
