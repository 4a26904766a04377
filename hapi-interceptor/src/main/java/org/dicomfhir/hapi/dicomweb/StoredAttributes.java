package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomNative;
import org.hl7.fhir.r4.model.Binary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The QIDO attribute values of stored instances, as the DICOM files hold them (not as the FHIR
 * resources say, which users may edit), for ImagingStudies written before ingest kept these
 * values in the resource itself ({@code dicom-attributes}, see {@link QidoService#keepsValues}). Read once per instance from its Binary (with the caller's
 * RequestDetails) and parsed by the Rust core; kept in a bounded LRU keyed by the Binary id. The
 * id is the SHA-256 of the bytes, so an entry can never be stale: other bytes are another id.
 *
 * <p>A cache hit skips the Binary read: the values are served because the ImagingStudy that lists
 * the instance was returned to the caller by an authorized search (QIDO answers with study,
 * series and instance attributes of studies the caller may read).
 */
public class StoredAttributes {

	private static final Logger ourLog = LoggerFactory.getLogger(StoredAttributes.class);

	private final StudyStore myStore;
	private final Map<String, ObjectNode> myCache;

	public StoredAttributes(StudyStore theStore, int theMaxEntries) {
		myStore = theStore;
		int max = Math.max(0, theMaxEntries);
		myCache = java.util.Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, true) {
			@Override
			protected boolean removeEldestEntry(Map.Entry<String, ObjectNode> theEldest) {
				return size() > max;
			}
		});
	}

	/**
	 * Which values of an instance a query needs: the plan's {@code stored} object, handed to the Rust
	 * core as it is ({@link DicomNative#qidoStoredValues}: its tags, or every attribute for
	 * {@code includefield=all}). The cache is keyed by Binary id and the plan's tag list, so a query
	 * never gets another query's subset; the whole data sets of {@code all} are not cached (their
	 * size is the instance's).
	 */
	record Selection(String storedJson, String tags, boolean all) {
		static Selection of(JsonNode theStored) {
			return new Selection(theStored.toString(), theStored.path("tags").toString(), theStored.path("all").asBoolean(false));
		}

		String cacheKey(String theBinaryId) {
			return all ? null : theBinaryId + "|" + tags;
		}
	}

	/**
	 * The stored values (DICOM JSON of the selected tags) of the instance in
	 * Binary/{@code theBinaryId}; null when its bytes cannot be read or parsed (the caller then
	 * answers with the FHIR values).
	 */
	ObjectNode get(String theBinaryId, Selection theSelection, RequestDetails theRequest) {
		String key = theSelection.cacheKey(theBinaryId);
		ObjectNode cached = key == null ? null : myCache.get(key);
		if (cached != null) {
			return cached;
		}
		try {
			Binary binary = myStore.binary(theBinaryId, theRequest);
			ObjectNode kept = keep(myStore.bytes(binary), theSelection);
			if (key != null) {
				myCache.put(key, kept);
			}
			return kept;
		} catch (DicomWebException | BaseServerResponseException | DicomException | IOException e) {
			// gone, unreadable for this caller, not parseable: the FHIR values are the fallback
			ourLog.debug("QIDO: no stored values for Binary/{}: {}", theBinaryId, e.toString());
			return null;
		}
	}

	/**
	 * Reads the Binaries of the given ids not cached yet in a few searches (100 ids each) instead
	 * of one read each, and caches their values. Failures are left to {@link #get}.
	 */
	void prefetch(java.util.Collection<String> theBinaryIds, Selection theSelection, RequestDetails theRequest) {
		if (theSelection.all()) {
			return; // not cached: read by get
		}
		java.util.List<String> missing = theBinaryIds.stream().filter(id -> !myCache.containsKey(theSelection.cacheKey(id))).distinct().toList();
		if (missing.isEmpty()) {
			return;
		}
		java.util.List<Binary> binaries;
		try {
			binaries = myStore.binaries(missing, theRequest);
		} catch (BaseServerResponseException e) {
			ourLog.debug("QIDO: Binary search refused ({}); values are read one by one", e.toString());
			return;
		}
		for (Binary binary : binaries) {
			try {
				myCache.put(theSelection.cacheKey(binary.getIdElement().getIdPart()), keep(myStore.bytes(binary), theSelection));
			} catch (DicomWebException | BaseServerResponseException | DicomException | IOException e) {
				ourLog.debug("QIDO: no stored values for Binary/{}: {}", binary.getIdElement().getIdPart(), e.toString());
			}
		}
	}

	private static ObjectNode keep(byte[] theBytes, Selection theSelection) throws IOException {
		return (ObjectNode) QidoService.JSON.readTree(DicomNative.qidoStoredValues(theBytes, theSelection.storedJson()));
	}

	/** Entries held (for tests and monitoring). */
	public int size() {
		return myCache.size();
	}

	/** Empties the cache (tests measure the cold path with it). */
	public void clear() {
		myCache.clear();
	}
}
