package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.InternalErrorException;
import ca.uhn.fhir.rest.server.exceptions.PayloadTooLargeException;
import ca.uhn.fhir.rest.server.exceptions.UnclassifiedServerFailureException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import org.dicomfhir.hapi.config.DicomFhirProperties;

/**
 * Keeps a FHIR request from taking the server's memory: a body over
 * {@code dicomfhir.max-upload-bytes} is refused with 413 before it is read (by its
 * Content-Length) or as soon as the limit is passed (a chunked body, read here into HAPI's
 * request contents); and an {@code OutOfMemoryError} is answered as a 503 to retry later, never
 * passed on as a stack trace. The DICOMweb facade answers its own requests before this runs and
 * has limits of its own.
 */
@Interceptor
public class RequestSizeLimitInterceptor {

	private static final Logger ourLog = LoggerFactory.getLogger(RequestSizeLimitInterceptor.class);

	private final DicomFhirProperties myProperties;

	public RequestSizeLimitInterceptor(DicomFhirProperties theProperties) {
		myProperties = theProperties;
	}

	/** Before any other hook of this point reads the body (the DICOM upload rewrite does). */
	@Hook(value = Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLER_SELECTED, order = -100)
	public void limitBody(ServletRequestDetails theRequest) {
		RequestTypeEnum method = theRequest.getRequestType();
		if (method != RequestTypeEnum.POST && method != RequestTypeEnum.PUT && method != RequestTypeEnum.PATCH) {
			return;
		}
		long max = myProperties.getMaxUploadBytes();
		long declared = theRequest.getServletRequest().getContentLengthLong();
		if (declared > max) {
			throw tooLarge(max, declared + " bytes");
		}
		if (declared >= 0 || theRequest.getRequestContentsIfLoaded() != null) {
			return; // the declared length is within the limit, and the container reads no more than that
		}
		try (InputStream in = theRequest.getInputStream()) {
			byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
			if (body.length > max) {
				throw tooLarge(max, "more than that");
			}
			theRequest.setRequestContents(body);
		} catch (IOException e) {
			throw new InternalErrorException("Could not read the request body: " + e.getMessage(), e);
		}
	}

	private static PayloadTooLargeException tooLarge(long theMax, String theActual) {
		return new PayloadTooLargeException("The request body exceeds this server's limit of " + theMax + " bytes (it has "
				+ theActual + "; dicomfhir.max-upload-bytes). Send large DICOM instances with STOW-RS to [base]/dicomweb/studies.");
	}

	/** An OutOfMemoryError anywhere in a FHIR request: 503, retry later; logged, never shown. */
	@Hook(Pointcut.SERVER_PRE_PROCESS_OUTGOING_EXCEPTION)
	public BaseServerResponseException outOfMemoryIsUnavailable(RequestDetails theRequest, Throwable theException) {
		for (Throwable t = theException; t != null; t = t.getCause()) {
			if (t instanceof OutOfMemoryError) {
				ourLog.error("Out of memory while serving {} {}; answered 503", theRequest.getRequestType(), theRequest.getRequestPath(), t);
				UnclassifiedServerFailureException unavailable = new UnclassifiedServerFailureException(503,
						"The server is short of memory right now; send the request again later.");
				unavailable.addResponseHeader("Retry-After", "10");
				return unavailable;
			}
		}
		return null;
	}
}
