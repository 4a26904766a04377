package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor;
import ca.uhn.fhir.jpa.model.util.JpaConstants;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.ResponseDetails;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.dicomfhir.hapi.access.DicomBinaryKind;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.lookup.UploadLookup;
import org.dicomfhir.hapi.studywrite.StudyWriteHandoff;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import jakarta.servlet.http.HttpServletResponse;

import java.nio.charset.StandardCharsets;

/**
 * Makes DICOM Binaries content-addressed on the REST layer, before HAPI picks a handler.
 *
 * <p>HAPI ignores an id in a create and assigns its own, so a {@code POST /Binary} of DICOM is
 * turned into {@code PUT /Binary/<sha256>}: the first upload creates the Binary (201), the same
 * bytes again are a no-op update of the same Binary (200). Transaction and batch Bundles get the
 * same rewrite per entry, keeping {@code fullUrl} so references inside the Bundle still resolve.
 * Authorization and every other interceptor then see the rewritten operation.
 */
@Interceptor
public class DicomBinaryUploadInterceptor {

	private static final String REWRITTEN_UPLOAD = DicomBinaryUploadInterceptor.class.getName() + ".rewritten";
	private static final String RAW = "raw";
	private static final String FHIR = "fhir";

	private final FhirContext myFhirContext;
	private final DicomStorageInterceptor myStorage;
	private final UploadLookup myLookup;
	private final StudyWriteHandoff myHandoff;
	private final StudyAccess myAccess;

	public DicomBinaryUploadInterceptor(FhirContext theFhirContext, DicomStorageInterceptor theStorage, UploadLookup theLookup,
			StudyWriteHandoff theHandoff, StudyAccess theAccess) {
		myAccess = theAccess;
		myFhirContext = theFhirContext;
		myStorage = theStorage;
		myLookup = theLookup;
		myHandoff = theHandoff;
	}

	@Hook(Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLER_SELECTED)
	public void rewriteDicomBinaryCreate(ServletRequestDetails theRequest) {
		if (theRequest.getRequestType() != RequestTypeEnum.POST
				|| !"Binary".equals(theRequest.getResourceName())
				|| theRequest.getId() != null
				|| theRequest.getOperation() != null) {
			return;
		}
		String contentType = theRequest.getHeader("Content-Type");
		EncodingEnum encoding = EncodingEnum.forContentTypeStrict(contentType);
		String sha256;
		boolean raw = encoding == null;
		if (raw) {
			if (!DicomBinaryKind.isDicomContentType(contentType)) {
				return;
			}
			// This runs before HAPI's AuthorizationInterceptor: a caller who may store no instance is
			// refused before its body is read.
			myAccess.requireMayStoreAny(theRequest);
			// HAPI builds the Binary from the raw body and takes its id from the URL we set below.
			sha256 = contentAddress(theRequest.loadRequestContents(), theRequest);
			if (theRequest.getHeader("Prefer") == null) {
				// The answer will be an OperationOutcome (answerLikeACreate), so HAPI need not read
				// the stored bytes back into the Binary it returns (8% of an upload).
				theRequest.getUserData().put(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY, Boolean.FALSE);
			}
		} else {
			Binary binary = parseBinary(theRequest, encoding);
			if (binary == null || !DicomBinaryKind.isDicomContentType(binary.getContentType()) || !binary.hasData()) {
				return; // a DICOM Binary without bytes is the storage hook's to refuse
			}
			myAccess.requireMayStoreAny(theRequest);
			sha256 = contentAddress(binary.getContent(), theRequest);
			binary.setId(sha256);
			// HAPI's resource parameter uses an already parsed resource as it is.
			theRequest.setResource(binary);
		}
		theRequest.setRequestType(RequestTypeEnum.PUT);
		theRequest.setId(new IdType("Binary", sha256));
		theRequest.getUserData().put(REWRITTEN_UPLOAD, raw ? RAW : FHIR);
	}

	/**
	 * The Binary id of an upload. The bytes are parsed here, once: the storage hooks reuse the parse.
	 * One query tells whether that Binary was ever stored and whether its SOP Instance UID may be
	 * listed; a new Binary is then created without HAPI's lookup of the id (HAPI's own
	 * {@code X-Upsert-Extistence-Check: disabled}). Two uploads of the same new bytes racing past
	 * the lookup are the same race as two PUTs: one insert wins, the other is a 409 and a retry is
	 * a 200. The SOP Instance UID is claimed before the lookup, so its answer holds until the
	 * storage hook (otherwise an upload of other bytes under that UID whose study write finished in
	 * between would go unseen); when another request holds the claim, the storage hook checks as
	 * usual. Bytes that do not parse are left to the storage hook, which rejects them.
	 */
	private String contentAddress(byte[] theBytes, ServletRequestDetails theRequest) {
		DicomInstance instance;
		try {
			instance = myStorage.parseForStorage(theBytes, theRequest);
		} catch (DicomException e) {
			return DicomBinaries.contentAddress(theBytes);
		}
		// the caller's right to this study, before its SOP Instance UID is claimed or looked up
		myAccess.requireMayStore(theRequest, instance);
		myHandoff.claimForRequest(theRequest, instance.sopInstanceUid(), instance.sha256());
		if (Boolean.FALSE.equals(myLookup.binaryStored(instance.sha256()))) {
			theRequest.addHeader(JpaConstants.HEADER_UPSERT_EXISTENCE_CHECK, JpaConstants.HEADER_UPSERT_EXISTENCE_CHECK_DISABLED);
		}
		return instance.sha256();
	}

	/** A request that claimed a SOP Instance UID and failed before storing gives the claim back. */
	@Hook(Pointcut.SERVER_PROCESSING_COMPLETED)
	public void releaseUnusedClaim(RequestDetails theRequest) {
		myHandoff.releaseRequestClaim(theRequest);
	}

	/**
	 * A rewritten POST still answers like a create: with a {@code Location}; and a raw upload gets an
	 * OperationOutcome (unless the client asked with {@code Prefer}) instead of its bytes echoed back.
	 */
	@Hook(Pointcut.SERVER_OUTGOING_RESPONSE)
	public boolean answerLikeACreate(RequestDetails theRequest, ResponseDetails theResponse, HttpServletResponse theServletResponse) {
		if (theRequest.getUserData().get(REWRITTEN_UPLOAD) == null
				|| !(theResponse.getResponseResource() instanceof Binary binary)) {
			return true;
		}
		IdType id = binary.getIdElement();
		String location = theRequest.getFhirServerBase() + "/Binary/" + id.getIdPart()
				+ (id.hasVersionIdPart() ? "/_history/" + id.getVersionIdPart() : "");
		theServletResponse.setHeader("Location", location);
		if (theRequest.getUserData().get(REWRITTEN_UPLOAD) == RAW && theRequest.getHeader("Prefer") == null) {
			OperationOutcome outcome = new OperationOutcome();
			outcome.addIssue()
					.setSeverity(OperationOutcome.IssueSeverity.INFORMATION)
					.setCode(OperationOutcome.IssueType.INFORMATIONAL)
					.setDiagnostics((theResponse.getResponseCode() == 201 ? "Stored" : "Already stored") + " as Binary/" + id.getIdPart()
							+ " (the SHA-256 of the bytes); its ImagingStudy is up to date.");
			theResponse.setResponseResource(outcome);
		}
		return true;
	}

	@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLED, order = -1000)
	public void rewriteDicomBinaryBundleEntries(RequestDetails theRequest, RestOperationTypeEnum theOperation) {
		if (theOperation != RestOperationTypeEnum.TRANSACTION && theOperation != RestOperationTypeEnum.BATCH) {
			return;
		}
		if (!(theRequest.getResource() instanceof Bundle bundle)) {
			return;
		}
		for (Bundle.BundleEntryComponent entry : bundle.getEntry()) {
			if (entry.getRequest().getMethod() != Bundle.HTTPVerb.POST
					|| !(entry.getResource() instanceof Binary binary)
					|| !DicomBinaryKind.isDicomContentType(binary.getContentType())
					|| !binary.hasData()) {
				continue;
			}
			String sha256 = DicomBinaries.contentAddress(binary.getContent());
			entry.getRequest().setMethod(Bundle.HTTPVerb.PUT).setUrl("Binary/" + sha256).setIfNoneExist(null);
			binary.setId(new IdType("Binary", sha256));
		}
	}

	private Binary parseBinary(RequestDetails theRequest, EncodingEnum theEncoding) {
		String body = new String(theRequest.loadRequestContents(), StandardCharsets.UTF_8);
		try {
			return theEncoding.newParser(myFhirContext).parseResource(Binary.class, body);
		} catch (RuntimeException e) {
			// Not ours to judge: HAPI parses the body again and reports the error itself.
			return null;
		}
	}

}
