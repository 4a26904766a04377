package org.dicomfhir.hapi;

import ca.uhn.fhir.interceptor.model.RequestPartitionId;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.entity.ResourceIndexedSearchParamToken;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.springframework.beans.factory.ObjectProvider;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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

	private static final String NOT_LISTED = SopInstanceIndex.class.getName() + ".notListed";

	/**
	 * False only when no ImagingStudy is indexed with this SOP Instance UID; true when one may be.
	 * Answered from {@link #checkAll} when the request ran it for this UID.
	 */
	public boolean mayBeListed(String theSopInstanceUid, RequestDetails theRequest) {
		if (theRequest != null && theRequest.getUserData().get(NOT_LISTED) instanceof Set<?> notListed
				&& notListed.contains(theSopInstanceUid)) {
			return false;
		}
		Boolean listed = query(settings -> listed(settings, theSopInstanceUid));
		return listed == null || listed;
	}

	/**
	 * Checks many SOP Instance UIDs in one query (a STOW-RS request's parts, instead of a query per
	 * part) and keeps the ones no ImagingStudy lists for {@link #mayBeListed} in this request,
	 * until {@link #forget}.
	 */
	public void checkAll(Collection<String> theSopInstanceUids, RequestDetails theRequest) {
		Set<String> notListed = query(settings -> {
			Map<Long, String> byHash = new HashMap<>();
			for (String uid : theSopInstanceUids) {
				byHash.put(hash(settings, uid), uid);
			}
			Set<String> out = new HashSet<>(theSopInstanceUids);
			List<Long> hashes = new ArrayList<>(byHash.keySet());
			for (int i = 0; i < hashes.size(); i += IN_LIST_CHUNK) {
				for (Object found : myEntityManager.createNativeQuery("SELECT HASH_VALUE FROM HFJ_SPIDX_TOKEN WHERE HASH_VALUE IN (?1)")
						.setParameter(1, hashes.subList(i, Math.min(hashes.size(), i + IN_LIST_CHUNK)))
						.getResultList()) {
					out.remove(byHash.get(((Number) found).longValue()));
				}
			}
			return out;
		});
		if (notListed != null) {
			theRequest.getUserData().put(NOT_LISTED, notListed);
		}
	}

	/**
	 * Records that no ImagingStudy listed this SOP Instance UID when the request looked it up
	 * ({@link UploadLookup}), for {@link #mayBeListed} in this request.
	 */
	public void notListed(String theSopInstanceUid, RequestDetails theRequest) {
		theRequest.getUserData().put(NOT_LISTED, Set.of(theSopInstanceUid));
	}

	/** Drops what {@link #checkAll} kept: it holds only for the transaction that ran it. */
	public void forget(RequestDetails theRequest) {
		theRequest.getUserData().remove(NOT_LISTED);
	}

	private boolean listed(PartitionSettings theSettings, String theSopInstanceUid) {
		return !myEntityManager.createNativeQuery("SELECT RES_ID FROM HFJ_SPIDX_TOKEN WHERE HASH_VALUE = ?1")
				.setParameter(1, hash(theSettings, theSopInstanceUid))
				.setMaxResults(1)
				.getResultList()
				.isEmpty();
	}

	static long hash(PartitionSettings theSettings, String theSopInstanceUid) {
		return ResourceIndexedSearchParamToken.calculateHashValue(theSettings, RequestPartitionId.defaultPartition(),
				"ImagingStudy", ImagingStudy.SP_INSTANCE, theSopInstanceUid);
	}
}
