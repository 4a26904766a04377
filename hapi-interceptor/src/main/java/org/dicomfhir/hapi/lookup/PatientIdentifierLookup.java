package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.interceptor.model.RequestPartitionId;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.entity.ResourceIndexedSearchParamToken;
import org.springframework.beans.factory.ObjectProvider;

/**
 * How many Patients carry one identifier (system and value), counted in HAPI's token index by
 * its hash ({@code HFJ_SPIDX_TOKEN.HASH_SYS_AND_VALUE}, indexed) without loading a resource. A
 * new study's upload asks whether its patient identity is claimed by more than one Patient; a
 * HAPI search for it (the search pipeline, then each Patient parsed) was 6% of an upload's
 * request-thread samples (JFR, H2, 4 clients). The hash trims the value, so a count of two or
 * more is checked again exactly by the caller.
 */
public class PatientIdentifierLookup extends NativeLookup {

	public PatientIdentifierLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** 0, 1 or 2 (two or more) Patients indexed with this identifier; null when this lookup is unavailable. */
	public Integer patientsWithIdentifier(String theSystem, String theValue) {
		return query(settings -> {
			long hash = ResourceIndexedSearchParamToken.calculateHashSystemAndValue(settings,
					RequestPartitionId.defaultPartition(), "Patient", "identifier", theSystem, theValue);
			java.util.List<?> rows = myEntityManager.createNativeQuery(
							"SELECT DISTINCT RES_ID FROM HFJ_SPIDX_TOKEN WHERE HASH_SYS_AND_VALUE = ?1")
					.setParameter(1, hash)
					.setMaxResults(2)
					.getResultList();
			return rows.size();
		});
	}
}
