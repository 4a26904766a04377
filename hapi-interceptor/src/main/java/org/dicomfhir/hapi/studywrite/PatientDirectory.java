package org.dicomfhir.hapi.studywrite;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.api.model.DaoMethodOutcome;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.IBundleProvider;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.util.UrlUtil;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.Patient;
import org.dicomfhir.hapi.lookup.PatientIdentifierLookup;

import java.util.List;

/**
 * Finds the FHIR Patient of a DICOM patient identity by its exact identifier (system and value as
 * typed parameters: characters that mean something in a FHIR search, {@code , | $ \}, are data
 * here, never syntax), and creates it when there is none. Two FHIR Patients claiming one identity
 * are a conflict the plugin will not resolve by guessing: {@link DuplicatePatientsException}.
 */
public class PatientDirectory {

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;
	private final PatientIdentifierLookup myLookup;

	public PatientDirectory(FhirContext theFhirContext, DaoRegistry theDaoRegistry, PatientIdentifierLookup theLookup) {
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
		myLookup = theLookup;
	}

	/**
	 * Throws {@link DuplicatePatientsException} when more than one Patient has this identifier. At
	 * most one in the token index is the answer; more (or no index lookup: partitioning) are
	 * checked by the exact search, which names them.
	 */
	public void requireAtMostOne(String theSystem, String theValue) {
		Integer indexed = myLookup.patientsWithIdentifier(theSystem, theValue);
		if (indexed != null && indexed <= 1) {
			return;
		}
		find(theSystem, theValue, new SystemRequestDetails());
	}

	/**
	 * The id (without {@code Patient/}) of the one Patient with exactly this identifier, or null when
	 * there is none; {@link PatientConflictException} when there are several.
	 */
	public String idOf(String theSystem, String theValue) {
		Patient found = find(theSystem, theValue, new SystemRequestDetails());
		return found == null ? null : found.getIdElement().getIdPart();
	}

	/**
	 * The id ({@code Patient/<id>}) of the one Patient with this identifier, created from
	 * {@code thePatientJson} when there is none.
	 */
	public String ensure(String theSystem, String theValue, String thePatientJson, SystemRequestDetails theRequest) {
		Patient found = find(theSystem, theValue, theRequest);
		if (found != null) {
			return "Patient/" + found.getIdElement().getIdPart();
		}
		Patient patient = myFhirContext.newJsonParser().parseResource(Patient.class, thePatientJson);
		// A conditional create, so that HAPI's own uniqueness of conditional creates keeps two
		// writers (two nodes) from creating two Patients at once. Its URL is rendered from the typed
		// parameter by HAPI (token escaping, then URL escaping), not assembled from the raw values.
		String matchUrl = "Patient?" + Patient.SP_IDENTIFIER + "="
				+ UrlUtil.escapeUrlParam(new TokenParam(theSystem, theValue).getValueAsQueryToken(myFhirContext));
		DaoMethodOutcome outcome = dao().create(patient, matchUrl, theRequest);
		IBaseResource created = outcome.getResource();
		if (created == null) {
			created = dao().read(outcome.getId().toUnqualifiedVersionless(), theRequest);
		}
		if (!hasIdentifier((Patient) created, theSystem, theValue)) {
			// Defence in depth: never file images under a Patient that does not carry their identity.
			throw new PatientConflictException("Patient/" + created.getIdElement().getIdPart() + " matched "
					+ InstanceLedger.describePatient(theSystem, theValue) + " but does not carry that identifier");
		}
		return "Patient/" + outcome.getId().getIdPart();
	}

	private Patient find(String theSystem, String theValue, SystemRequestDetails theRequest) {
		SearchParameterMap query = SearchParameterMap.newSynchronous(Patient.SP_IDENTIFIER, new TokenParam(theSystem, theValue));
		IBundleProvider found = dao().search(query, theRequest);
		List<IBaseResource> patients = found.getResources(0, 3).stream()
				.filter(p -> hasIdentifier((Patient) p, theSystem, theValue))
				.toList();
		if (patients.size() > 1) {
			throw new DuplicatePatientsException(InstanceLedger.describePatient(theSystem, theValue),
					patients.stream().map(p -> "Patient/" + p.getIdElement().getIdPart()).toList());
		}
		return patients.isEmpty() ? null : (Patient) patients.get(0);
	}

	private static boolean hasIdentifier(Patient thePatient, String theSystem, String theValue) {
		for (Identifier identifier : thePatient.getIdentifier()) {
			if (theSystem.equals(identifier.getSystem() == null ? "" : identifier.getSystem())
					&& theValue.equals(identifier.getValue() == null ? "" : identifier.getValue())) {
				return true;
			}
		}
		return false;
	}

	private IFhirResourceDao<Patient> dao() {
		return myDaoRegistry.getResourceDao(Patient.class);
	}
}
