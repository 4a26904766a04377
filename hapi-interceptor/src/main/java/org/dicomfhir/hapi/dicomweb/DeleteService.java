package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.studywrite.StudyWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * DELETE of a study, series or instance (non-standard but common: Microsoft's and dcm4chee's
 * archives answer 204). Deletes the DICOM Binaries through the Binary DAO with the caller's
 * RequestDetails, so authorization applies and the plugin's Binary delete hook removes the
 * instances from the ImagingStudy (and deletes the study when its last instance goes), exactly
 * as a FHIR {@code DELETE Binary/<sha256>} would.
 *
 * <p>That hook learns which instance a Binary was from its bytes. An entry whose bytes are
 * missing (its Binary gone, or its blob no longer in the binary store, with no ledger row to name
 * it) would therefore stay listed for ever: those entries are handed to the study writer as
 * removals here ({@link StudyWriter#removeNow}), and the study goes when nothing is left.
 */
public class DeleteService {

	private static final Logger ourLog = LoggerFactory.getLogger(DeleteService.class);
	private final DaoRegistry myDaoRegistry;
	private final StudyStore myStore;
	private final StudyWriter myWriter;
	private final StudyAccess myAccess;

	public DeleteService(DaoRegistry theDaoRegistry, StudyStore theStore, StudyWriter theWriter, StudyAccess theAccess) {
		myAccess = theAccess;
		myDaoRegistry = theDaoRegistry;
		myStore = theStore;
		myWriter = theWriter;
	}

	void delete(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) {
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
		// Deleting instances changes the study: the caller may update it, checked before anything goes.
		myAccess.requireMayChange(theRequest.details(), theStudy);
		List<StudyStore.InstanceRef> refs = StudyStore.instances(study, theStudy, theSeries, theInstance);
		// Which entries have bytes the Binary delete hook can read? (Read as the system: the
		// caller's right to the study was checked above, its right to delete each Binary below.)
		List<Binary> binaries = myStore.binariesOrNull(refs, new SystemRequestDetails());
		Set<String> existing = new LinkedHashSet<>();
		Set<String> unreadable = new LinkedHashSet<>();
		for (int i = 0; i < refs.size(); i++) {
			Binary b = binaries.get(i);
			if (b != null) {
				existing.add(refs.get(i).binaryId());
			}
			if (b == null || !myStore.readable(b)) {
				unreadable.add(refs.get(i).sopInstanceUid());
			}
		}
		for (String id : existing) {
			try {
				myDaoRegistry.getResourceDao(Binary.class).delete(new IdType("Binary", id), theRequest.details());
			} catch (ResourceNotFoundException | ResourceGoneException e) {
				// deleted meanwhile: its entry is removed below if still listed
				unreadable.addAll(refs.stream().filter(r -> r.binaryId().equals(id)).map(StudyStore.InstanceRef::sopInstanceUid).toList());
			}
		}
		if (!unreadable.isEmpty()) {
			ourLog.warn("DICOMweb DELETE: {} instance(s) of study {} had no readable stored bytes; removing their entries: {}",
					unreadable.size(), theStudy, unreadable);
			Map<String, String> binaryBySop = new LinkedHashMap<>();
			refs.stream().filter(r -> unreadable.contains(r.sopInstanceUid()))
					.forEach(r -> binaryBySop.put(r.sopInstanceUid(), r.binaryId()));
			myWriter.removeNow(theStudy, binaryBySop);
		}
		theRequest.servletResponse().setStatus(204);
	}
}
