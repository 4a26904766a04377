package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import jakarta.persistence.EntityManager;
import jakarta.persistence.PersistenceContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.transaction.annotation.Propagation;

import java.util.function.Function;

/**
 * A lookup answered by one native query on HAPI's own tables, where HAPI's generic path costs
 * far more than the lookup itself. With partitioning enabled, or once the first query has failed
 * (another schema; it is tried in a transaction of its own, since a failing query marks the
 * caller's transaction for rollback), the lookup is unavailable and the caller takes HAPI's path:
 * this can only cost time, never correctness.
 */
abstract class NativeLookup {

	private static final Logger ourLog = LoggerFactory.getLogger(NativeLookup.class);
	/** Values per {@code IN (...)} list: well under every supported database's bind-parameter limit. */
	protected static final int IN_LIST_CHUNK = 500;

	private final ObjectProvider<PartitionSettings> myPartitionSettings;
	private final IHapiTransactionService myTransactions;
	private volatile PartitionSettings mySettings; // resolved once: a bean lookup per query cost 2% of a STOW request
	private volatile boolean myBroken;
	private volatile boolean myProbed;

	@PersistenceContext
	protected EntityManager myEntityManager;

	NativeLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		myPartitionSettings = thePartitionSettings;
		myTransactions = theTransactions;
	}

	/** The query's answer in the caller's transaction; null when the lookup is unavailable. */
	protected <T> T query(Function<PartitionSettings, T> theQuery) {
		PartitionSettings settings = partitionSettings();
		if (myBroken || settings == null || settings.isPartitioningEnabled()) {
			return null;
		}
		if (!myProbed) {
			try {
				myTransactions.withSystemRequest().withPropagation(Propagation.REQUIRES_NEW).execute(() -> theQuery.apply(settings));
			} catch (RuntimeException e) {
				myBroken = true;
				ourLog.warn("{} fails ({}); HAPI's own lookup is used instead", getClass().getSimpleName(), e.toString());
				return null;
			}
			myProbed = true;
		}
		return theQuery.apply(settings);
	}

	private PartitionSettings partitionSettings() {
		PartitionSettings settings = mySettings;
		if (settings == null) {
			settings = myPartitionSettings.getIfAvailable();
			mySettings = settings;
		}
		return settings;
	}
}
