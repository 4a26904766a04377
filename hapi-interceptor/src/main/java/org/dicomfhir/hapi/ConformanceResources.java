package org.dicomfhir.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.SearchParameter;
import org.hl7.fhir.r4.model.StructureDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataIntegrityViolationException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Publishes the plugin's conformance resources at startup: the StructureDefinitions of its
 * extensions (so validators and clients can resolve them) and the SearchParameters on the DICOM
 * values kept in ImagingStudy (so the database narrows QIDO-RS queries on PatientName, PatientID,
 * StudyDescription, AccessionNumber and Modality, and FHIR clients can search them too).
 */
public class ConformanceResources {

	private static final Logger ourLog = LoggerFactory.getLogger(ConformanceResources.class);

	// the extension URLs themselves are the core's (org.dicomfhir.bridge.CoreConstants); these are file names
	private static final String[] STRUCTURE_DEFINITIONS = {"instance-binary", "instance-attributes", "dicom-attributes"};
	private static final String[] SEARCH_PARAMETERS = {"dicom-patient-name", "dicom-patient-id", "dicom-study-description",
			"dicom-accession-number", "dicom-modality"};

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;

	public ConformanceResources(FhirContext theFhirContext, DaoRegistry theDaoRegistry) {
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
	}

	void publish() {
		for (String name : STRUCTURE_DEFINITIONS) {
			update(StructureDefinition.class, name + ".StructureDefinition.json");
		}
		for (String name : SEARCH_PARAMETERS) {
			update(SearchParameter.class, name + ".SearchParameter.json");
		}
	}

	/**
	 * Creates or replaces the resource by its fixed id. An unchanged resource is a no-op update (no
	 * new version, no reindex); a newer plugin version replaces the old one. HAPI refreshes its
	 * SearchParameter registry itself after a SearchParameter write. Two nodes starting at
	 * once may race on the create: the loser finds the winner's identical copy.
	 */
	private <T extends IBaseResource> void update(Class<T> theType, String theFile) {
		T resource = myFhirContext.newJsonParser().parseResource(theType, read(theFile));
		try {
			myDaoRegistry.getResourceDao(theType).update(resource, new SystemRequestDetails());
		} catch (ResourceVersionConflictException | DataIntegrityViolationException e) {
			ourLog.info("{} written by another node at the same time: {}", theFile, e.getMessage());
		}
	}

	private static String read(String theFile) {
		try (InputStream in = ConformanceResources.class.getResourceAsStream(theFile)) {
			if (in == null) {
				throw new IllegalStateException("missing resource " + theFile);
			}
			return new String(in.readAllBytes(), StandardCharsets.UTF_8);
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}
}
