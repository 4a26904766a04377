package org.dicomfhir.hapi;

import ca.uhn.fhir.interceptor.model.RequestPartitionId;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.entity.ResourceIndexedSearchParamToken;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.springframework.beans.factory.ObjectProvider;

/**
 * Answers "may an ImagingStudy already list this SOP Instance UID?" for every upload, from HAPI's
 * token index of the {@code ImagingStudy:instance} search parameter with one indexed query
 * (HAPI's own hash function, table {@code HFJ_SPIDX_TOKEN}). Going through the DAO
 * ({@code searchForIds}) cost 14% of an upload, nearly all of it HAPI's search machinery (a new
 * SearchBuilder bean, SQL generation) rather than the lookup itself.
 */
public class SopInstanceIndex extends NativeIndexQuery {

	public SopInstanceIndex(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** False only when no ImagingStudy is indexed with this SOP Instance UID; true when one may be. */
	public boolean mayBeListed(String theSopInstanceUid) {
		Boolean listed = query(settings -> listed(settings, theSopInstanceUid));
		return listed == null || listed;
	}

	private boolean listed(PartitionSettings theSettings, String theSopInstanceUid) {
		long hash = ResourceIndexedSearchParamToken.calculateHashValue(theSettings, RequestPartitionId.defaultPartition(),
				"ImagingStudy", ImagingStudy.SP_INSTANCE, theSopInstanceUid);
		return !myEntityManager.createNativeQuery("SELECT RES_ID FROM HFJ_SPIDX_TOKEN WHERE HASH_VALUE = ?1")
				.setParameter(1, hash)
				.setMaxResults(1)
				.getResultList()
				.isEmpty();
	}
}
