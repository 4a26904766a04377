package org.dicomfhir.hapi.lookup;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dao.JpaPid;
import org.hl7.fhir.r4.model.IdType;
import org.springframework.beans.factory.ObjectProvider;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which of many {@code Binary/<sha256>} ids are stored, with their persistent ids, in one indexed
 * query on {@code HFJ_RESOURCE.FHIR_ID}. HAPI resolves a client-assigned id with a query per id;
 * its batch lookup ({@code IIdHelperService.resolveResourceIdentities}) ORs one
 * {@code (RES_TYPE = ? AND FHIR_ID = ?)} per id, which H2 answers by scanning every Binary.
 */
public class BinaryIdLookup extends NativeLookup {

	public BinaryIdLookup(ObjectProvider<PartitionSettings> thePartitionSettings, IHapiTransactionService theTransactions) {
		super(thePartitionSettings, theTransactions);
	}

	/** The persistent ids of the stored ones (deleted included) among these Binary ids; null when this lookup is unavailable. */
	public Map<String, JpaPid> stored(Collection<String> theIds) {
		return query(settings -> {
			Map<String, JpaPid> out = new HashMap<>();
			List<String> ids = new ArrayList<>(theIds);
			for (int i = 0; i < ids.size(); i += IN_LIST_CHUNK) {
				List<?> rows = myEntityManager.createNativeQuery(
								"SELECT RES_ID, PARTITION_ID, FHIR_ID FROM HFJ_RESOURCE WHERE RES_TYPE = 'Binary' AND FHIR_ID IN (?1)")
						.setParameter(1, ids.subList(i, Math.min(ids.size(), i + IN_LIST_CHUNK)))
						.getResultList();
				for (Object r : rows) {
					Object[] row = (Object[]) r;
					String id = (String) row[2];
					JpaPid pid = JpaPid.fromId(((Number) row[0]).longValue(), row[1] == null ? null : ((Number) row[1]).intValue());
					pid.setAssociatedResourceId(new IdType("Binary", id));
					out.put(id, pid);
				}
			}
			return out;
		});
	}
}
