package org.dicomfhir.hapi;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import org.springframework.beans.factory.ObjectProvider;

/**
 * What the database already holds for one DICOM upload, in one round trip: whether its
 * {@code Binary/<sha256>} was ever stored (a deleted one included: its row stays), and whether an
 * ImagingStudy may list its SOP Instance UID. A plain HAPI {@code POST /Binary} asks the database
 * nothing before its insert; our {@code PUT} to the content address would make HAPI resolve the id
 * first (a query plus HAPI's id machinery, 10% of an upload's samples) and the SOP Instance UID
 * check would be a second query.
 */
public class UploadLookup extends NativeIndexQuery {

	/** What is stored for an upload. */
	public record Stored(boolean binary, boolean sopInstanceMayBeListed) {}

	public UploadLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** Null when this lookup is unavailable (see {@link NativeIndexQuery}). */
	public Stored lookup(String theSha256, String theSopInstanceUid) {
		return query(settings -> {
			Object[] row = (Object[]) myEntityManager.createNativeQuery(
							"SELECT (SELECT COUNT(*) FROM HFJ_RESOURCE WHERE RES_TYPE = 'Binary' AND FHIR_ID = ?1),"
									+ " (SELECT COUNT(*) FROM HFJ_SPIDX_TOKEN WHERE HASH_VALUE = ?2)")
					.setParameter(1, theSha256)
					.setParameter(2, SopInstanceIndex.hash(settings, theSopInstanceUid))
					.getSingleResult();
			return new Stored(((Number) row[0]).longValue() > 0, ((Number) row[1]).longValue() > 0);
		});
	}
}
