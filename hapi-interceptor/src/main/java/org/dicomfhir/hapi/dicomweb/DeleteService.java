package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * DELETE of a study, series or instance (non-standard but common: Microsoft's and dcm4chee's
 * archives answer 204). Deletes the DICOM Binaries through the Binary DAO with the caller's
 * RequestDetails, so authorization applies and the plugin's Binary delete hook removes the
 * instances from the ImagingStudy (and deletes the study when its last instance goes), exactly
 * as a FHIR {@code DELETE Binary/<sha256>} would.
 */
public class DeleteService {

	private final DaoRegistry myDaoRegistry;
	private final StudyStore myStore;

	public DeleteService(DaoRegistry theDaoRegistry, StudyStore theStore) {
		myDaoRegistry = theDaoRegistry;
		myStore = theStore;
	}

	void delete(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) {
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		Set<String> binaries = new LinkedHashSet<>();
		refs.forEach(r -> binaries.add(r.binaryId()));
		for (String id : binaries) {
			try {
				myDaoRegistry.getResourceDao(Binary.class).delete(new IdType("Binary", id), theRequest.details());
			} catch (ResourceNotFoundException | ResourceGoneException e) {
				// already gone: the study entry is stale; nothing left to delete for this instance
			}
		}
		theRequest.servletResponse().setStatus(204);
	}
}
