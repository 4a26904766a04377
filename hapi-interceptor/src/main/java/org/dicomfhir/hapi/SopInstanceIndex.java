package org.dicomfhir.hapi;

import ca.uhn.fhir.interceptor.model.RequestPartitionId;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.entity.ResourceIndexedSearchParamToken;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.transaction.annotation.Propagation;

/**
 * Answers "may an ImagingStudy already list this SOP Instance UID?" for every upload, from HAPI's
 * token index of the {@code ImagingStudy:instance} search parameter with one indexed query.
 * Going through the DAO ({@code searchForIds}) cost 14% of an upload, nearly all of it HAPI's
 * search machinery (a new SearchBuilder bean, SQL generation) rather than the lookup itself.
 *
 * <p>The query uses HAPI's own hash function and its table {@code HFJ_SPIDX_TOKEN}; with
 * partitioning enabled, or if the first query fails (another schema; tried in a transaction of
 * its own), it answers "maybe" and the caller runs the DAO search, so that can only cost time.
 */
public class SopInstanceIndex {

	private static final Logger ourLog = LoggerFactory.getLogger(SopInstanceIndex.class);

	private final ObjectProvider<PartitionSettings> myPartitionSettings;
	private final IHapiTransactionService myTransactions;
	private volatile boolean myBroken;
	private volatile boolean myProbed;

	@PersistenceContext
	private EntityManager myEntityManager;

	public SopInstanceIndex(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		myPartitionSettings = thePartitionSettings;
		myTransactions = theTransactions;
	}

	/** False only when no ImagingStudy is indexed with this SOP Instance UID; true when one may be. */
	public boolean mayBeListed(String theSopInstanceUid) {
		PartitionSettings settings = myPartitionSettings.getIfAvailable();
		if (myBroken || settings == null || settings.isPartitioningEnabled()) {
			return true;
		}
		if (!myProbed) {
			// A failing query marks the caller's transaction for rollback: try the first one alone.
			try {
				myTransactions.withSystemRequest().withPropagation(Propagation.REQUIRES_NEW).execute(() -> listed(settings, theSopInstanceUid));
			} catch (RuntimeException e) {
				myBroken = true;
				ourLog.warn("SOP Instance UID lookup in HFJ_SPIDX_TOKEN fails ({}); uploads use the FHIR search", e.toString());
				return true;
			}
			myProbed = true;
		}
		return listed(settings, theSopInstanceUid);
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
