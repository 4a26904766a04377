package org.dicomfhir.hapi.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.dicomfhir.bridge.DeriveOptions;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomNative;

import java.util.ArrayList;
import java.util.List;

/** The derivation settings handed to the Rust core with every parse, and the QIDO index's tag set. */
public class NativeOptions {

	private final DeriveOptions myDeriveOptions;
	private final String myIndexSet;
	private final List<String> myIndexTags;

	public NativeOptions(DicomFhirProperties theProperties) {
		List<String> extra = theProperties.getQidoIndexedTags();
		myDeriveOptions = new DeriveOptions(theProperties.getPatientIdentifierSystem(), theProperties.getDefaultTimezone())
				.withQidoIndexedTags(extra);
		// Resolved once here: a configuration naming no indexable attribute stops the start-up.
		try {
			ObjectMapper json = new ObjectMapper();
			JsonNode set = json.readTree(DicomNative.qidoIndexedTags(json.writeValueAsString(extra)));
			myIndexSet = set.path("set").asText();
			List<String> tags = new ArrayList<>();
			set.path("tags").forEach(t -> tags.add(t.asText()));
			myIndexTags = List.copyOf(tags);
		} catch (DicomException e) {
			throw new IllegalStateException(e.getMessage(), e);
		} catch (com.fasterxml.jackson.core.JsonProcessingException e) {
			throw new IllegalStateException(e);
		}
	}

	public DeriveOptions derive() {
		return myDeriveOptions;
	}

	/** The id of the QIDO index's tag set (the core's defaults plus {@code dicomfhir.qido-indexed-tags}). */
	public String indexSet() {
		return myIndexSet;
	}

	/** The tags of {@link #indexSet()}, 8 hex digits each. */
	public List<String> indexTags() {
		return myIndexTags;
	}
}
