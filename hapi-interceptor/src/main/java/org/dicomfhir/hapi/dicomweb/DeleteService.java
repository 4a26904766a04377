package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import org.dicomfhir.bridge.DicomStudies;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.ConcurrencyFailureException;
import org.springframework.dao.DataIntegrityViolationException;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * DELETE of a study, series or instance (non-standard but common: Microsoft's and dcm4chee's
 * archives answer 204). Deletes the DICOM Binaries through the Binary DAO with the caller's
 * RequestDetails, so authorization applies and the plugin's Binary delete hook removes the
 * instances from the ImagingStudy (and deletes the study when its last instance goes), exactly
 * as a FHIR {@code DELETE Binary/<sha256>} would.
 *
 * <p>That hook learns which instance a Binary was from its bytes. An entry whose bytes are
 * missing (its Binary gone, or its blob no longer in the binary store) would therefore stay listed
 * for ever: those entries are removed here, from the ImagingStudy itself, with a versioned update
 * (retried on conflict) as the plugin's study writer does, and the study is deleted when nothing
 * is left.
 */
public class DeleteService {

	private static final Logger ourLog = LoggerFactory.getLogger(DeleteService.class);
	private static final int MAX_ATTEMPTS = 10;

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;
	private final StudyStore myStore;

	public DeleteService(FhirContext theFhirContext, DaoRegistry theDaoRegistry, StudyStore theStore) {
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
		myStore = theStore;
	}

	void delete(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) {
		ImagingStudy study = myStore.study(theStudy, theRequest.details());
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
			removeEntries(study.getIdElement().getIdPart(), unreadable);
		}
		theRequest.servletResponse().setStatus(204);
	}

	/**
	 * Removes instances from the ImagingStudy (the study too when none is left): read, remove
	 * (the Rust core's {@code removeInstances}, as the study writer does), versioned update; a
	 * concurrent writer makes the update fail, and it is done again on a fresh read.
	 */
	private void removeEntries(String theStudyId, Set<String> theSopUids) {
		IFhirResourceDao<ImagingStudy> dao = myDaoRegistry.getResourceDao(ImagingStudy.class);
		IParser parser = myFhirContext.newJsonParser();
		for (int attempt = 1; ; attempt++) {
			SystemRequestDetails system = new SystemRequestDetails();
			try {
				ImagingStudy current;
				try {
					current = dao.read(new IdType("ImagingStudy", theStudyId), system);
				} catch (ResourceNotFoundException | ResourceGoneException e) {
					return; // deleted meanwhile (its last instance went)
				}
				if (!lists(current, theSopUids)) {
					return;
				}
				IdType versioned = new IdType("ImagingStudy", theStudyId, current.getIdElement().getVersionIdPart());
				Optional<String> left = DicomStudies.removeInstances(parser.encodeResourceToString(current), theSopUids);
				if (left.isEmpty()) {
					dao.delete(versioned, system);
					return;
				}
				ImagingStudy updated = parser.parseResource(ImagingStudy.class, left.get());
				updated.setId(versioned); // a versioned update: refused if another writer got there first
				dao.update(updated, system);
				return;
			} catch (ResourceVersionConflictException | PreconditionFailedException | ConcurrencyFailureException
					| DataIntegrityViolationException e) {
				if (attempt >= MAX_ATTEMPTS) {
					throw e;
				}
				ourLog.debug("ImagingStudy {} changed while removing entries (attempt {}): {}", theStudyId, attempt, e.toString());
				backOff(attempt);
			}
		}
	}

	private static boolean lists(ImagingStudy theStudy, Set<String> theSopUids) {
		for (ImagingStudy.ImagingStudySeriesComponent series : theStudy.getSeries()) {
			for (ImagingStudy.ImagingStudySeriesInstanceComponent instance : series.getInstance()) {
				if (theSopUids.contains(instance.getUid())) {
					return true;
				}
			}
		}
		return false;
	}

	/** Waits a little before retrying a conflicting write, so two writers do not collide again. */
	private static void backOff(int theAttempt) {
		try {
			Thread.sleep(ThreadLocalRandom.current().nextLong(1, Math.min(200, 5L << Math.min(theAttempt, 5)) + 1));
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
		}
	}
}
