package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import org.springframework.beans.factory.ObjectProvider;

/**
 * Whether an upload's {@code Binary/<sha256>} was ever stored (a deleted one included: its row
 * stays), in one indexed query. A plain HAPI {@code POST /Binary} asks the database nothing before
 * its insert; our {@code PUT} to the content address would make HAPI resolve the id first (a query
 * plus HAPI's id machinery, 10% of an upload's samples), so a new Binary is created without it.
 */
public class UploadLookup extends NativeLookup {

	public UploadLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** Null when this lookup is unavailable (see {@link NativeLookup}). */
	public Boolean binaryStored(String theSha256) {
		return query(settings -> ((Number) myEntityManager.createNativeQuery(
						"SELECT COUNT(*) FROM HFJ_RESOURCE WHERE RES_TYPE = 'Binary' AND FHIR_ID = ?1")
				.setParameter(1, theSha256)
				.getSingleResult()).longValue() > 0);
	}
}
