package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.HookParams;
import ca.uhn.fhir.interceptor.api.IInterceptorBroadcaster;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.util.UrlUtil;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.hl7.fhir.instance.model.api.IIdType;
import org.hl7.fhir.r4.model.IdType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;

/**
 * The DICOMweb facade under {@code [FHIR base]/<dicomweb-path>/}: HAPI's RestfulServer hands every
 * request to this hook before it parses the path as FHIR; paths below the facade are answered
 * here (the response is written, the hook returns false), everything else goes on to HAPI.
 *
 * <p><b>Security.</b> Every read and write below goes through HAPI DAOs with this request's
 * RequestDetails, so storage-level hooks (AuthorizationInterceptor's resource checks, consent,
 * partitioning) apply. Because HAPI never selects a FHIR handler for these paths, it never fires
 * {@code SERVER_INCOMING_REQUEST_PRE_HANDLED} either; we fire it ourselves, with the resource
 * name and operation the DICOMweb request amounts to (QIDO: {@code SEARCH_TYPE} on ImagingStudy;
 * WADO-RS, rendered, thumbnail and WADO-URI, a retrieve by UID: {@code READ} on ImagingStudy;
 * STOW: {@code UPDATE} on Binary), so interceptors that decide at that point
 * (AuthorizationInterceptor's operation rules, SearchNarrowingInterceptor, audit) see it.
 */
@Interceptor
public class DicomWebInterceptor {

	private static final Logger ourLog = LoggerFactory.getLogger(DicomWebInterceptor.class);

	private final DicomFhirProperties myProperties;
	private final QidoService myQido;
	private final WadoService myWado;
	private final StowService myStow;
	private final DeleteService myDelete;
	private final DicomWebProperties myWebProperties;
	private volatile RestfulServer myServer;

	public DicomWebInterceptor(DicomFhirProperties theProperties, QidoService theQido, WadoService theWado, StowService theStow,
			DeleteService theDelete, DicomWebProperties theWebProperties) {
		myProperties = theProperties;
		myQido = theQido;
		myWado = theWado;
		myStow = theStow;
		myDelete = theDelete;
		myWebProperties = theWebProperties;
	}

	private String prefix() {
		String path = myProperties.getDicomwebPath();
		path = path.replaceAll("^/+|/+$", "");
		return "/" + path;
	}

	/** Set by the registrar: the RestfulServer this facade is registered on. */
	void setServer(RestfulServer theServer) {
		myServer = theServer;
	}

	/**
	 * Runs at SERVER_INCOMING_REQUEST_PRE_PROCESSED, not PRE_HANDLER_SELECTED: HAPI parses the
	 * path as a FHIR path in between and refuses paths of more than four segments
	 * (HAPI-0300), which most WADO-RS paths are. So the RequestDetails is built here, the way
	 * RestfulServer builds its own (server, request type, servlet request/response, UTF-8 query
	 * parameters, FHIR base).
	 */
	@Hook(Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED)
	public boolean handle(HttpServletRequest theRequest, HttpServletResponse theResponse) throws IOException {
		String pathInfo = theRequest.getPathInfo();
		RestfulServer server = myServer;
		if (server == null || !onFacade(pathInfo)) {
			return true;
		}
		long start = System.nanoTime();
		try {
			return handleOnFacade(server, theRequest, theResponse, pathInfo);
		} finally {
			DicomWebAccessLog.log(theRequest, theResponse, start);
		}
	}

	private boolean handleOnFacade(RestfulServer server, HttpServletRequest theRequest, HttpServletResponse theResponse, String pathInfo)
			throws IOException {
		String prefix = prefix();
		List<String> segments = Arrays.stream(pathInfo.substring(prefix.length()).split("/"))
				.filter(s -> !s.isEmpty())
				.toList();
		boolean corsAllowed = cors(theRequest, theResponse);
		if ("OPTIONS".equals(theRequest.getMethod()) && theRequest.getHeader("Access-Control-Request-Method") != null
				&& theRequest.getHeader("Origin") != null) {
			// CORS preflight: answered for every facade path, without authentication (browsers send none)
			theResponse.setStatus(corsAllowed ? 204 : 403);
			if (corsAllowed) {
				theResponse.setHeader("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
				theResponse.setHeader("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, If-None-Match");
				theResponse.setHeader("Access-Control-Max-Age", "600");
			}
			return false;
		}
		try {
			ServletRequestDetails details = requestDetails(server, theRequest, theResponse);
			DicomWebRequest request = new DicomWebRequest(details, theRequest, theResponse, serviceBase(details));
			route(request, theRequest.getMethod(), segments);
		} catch (ResponseWritten e) {
			// an interceptor answered the request
		} catch (DicomWebException e) {
			error(theResponse, e.status(), e.getMessage());
		} catch (DicomException e) {
			if (e.kind().isServerFault()) {
				// a stored instance or study this server cannot read (or a bug): not the client's fault
				ourLog.error("DICOMweb {} {} failed ({})", theRequest.getMethod(), pathInfo, e.kind(), e);
				error(theResponse, 500, (e.kind() == DicomException.Kind.CORRUPT_STORED
						? "Stored data cannot be read: " : "Internal error: ") + e.getMessage());
			} else {
				error(theResponse, 400, e.getMessage());
			}
		} catch (OutOfMemoryError e) {
			outOfMemory(theRequest, theResponse, e);
		} catch (BaseServerResponseException e) {
			if (outOfMemory(e) != null) {
				outOfMemory(theRequest, theResponse, outOfMemory(e));
				return false;
			}
			// HAPI's own: 401/403 from authorization, 404/410, 409, 412, 422 ...
			error(theResponse, e.getStatusCode(), e.getMessage());
		} catch (RuntimeException e) {
			if (outOfMemory(e) != null) {
				outOfMemory(theRequest, theResponse, outOfMemory(e));
				return false;
			}
			ourLog.error("DICOMweb {} {} failed", theRequest.getMethod(), pathInfo, e);
			error(theResponse, 500, "Internal error: " + e);
		}
		return false;
	}

	/** Seconds a client is told to wait (Retry-After) after the server ran out of memory. */
	static final int OUT_OF_MEMORY_RETRY_AFTER_SECONDS = 30;

	/** The OutOfMemoryError behind an exception (HAPI wraps what an interceptor or a DAO call throws), or null. */
	private static OutOfMemoryError outOfMemory(Throwable theError) {
		int depth = 0;
		for (Throwable t = theError; t != null && depth < 16; t = t.getCause(), depth++) {
			if (t instanceof OutOfMemoryError oom) {
				return oom;
			}
		}
		return null;
	}

	/**
	 * The heap ran out while serving this request (what it held is garbage now): 503 with
	 * Retry-After and a short message, never a stack trace, and the server goes on. Logged as an
	 * ERROR: the limits (docs/dicomweb.md, "Limits") or the heap need a look.
	 */
	private static void outOfMemory(HttpServletRequest theRequest, HttpServletResponse theResponse, OutOfMemoryError theError)
			throws IOException {
		ourLog.error("DICOMweb {} {} ran out of memory ({}); answered 503", theRequest.getMethod(), theRequest.getPathInfo(),
				theError.getMessage());
		error(theResponse, 503, "The server ran out of memory while serving this request; retry later, or send smaller requests",
				java.util.Map.of("Retry-After", Integer.toString(OUT_OF_MEMORY_RETRY_AFTER_SECONDS)));
	}

	private boolean onFacade(String thePathInfo) {
		String prefix = prefix();
		return thePathInfo != null && (thePathInfo.equals(prefix) || thePathInfo.startsWith(prefix + "/"));
	}

	/**
	 * HAPI's RestfulServer parses the query string before SERVER_INCOMING_REQUEST_PRE_PROCESSED,
	 * and a malformed %-escape ({@code ?PatientName=%ZZ}) fails there with an
	 * IllegalArgumentException it answers as 500. On the facade that is the client's mistake: 400
	 * (with HAPI's OperationOutcome body, as nothing of ours has run). Ordered before HAPI's
	 * ExceptionHandlingInterceptor, so the client's mistake is not logged as a server failure.
	 * FHIR paths are left to the host server.
	 */
	@Hook(value = Pointcut.SERVER_PRE_PROCESS_OUTGOING_EXCEPTION, order = -100)
	public BaseServerResponseException malformedQuery(HttpServletRequest theRequest, Throwable theException) {
		if (theException instanceof IllegalArgumentException && onFacade(theRequest.getPathInfo()) && fromQueryParsing(theException)) {
			return new InvalidRequestException("Malformed query string: " + theException.getMessage());
		}
		return null;
	}

	private static boolean fromQueryParsing(Throwable theException) {
		return Arrays.stream(theException.getStackTrace())
				.anyMatch(f -> f.getClassName().equals(UrlUtil.class.getName()) && f.getMethodName().startsWith("parseQueryString"));
	}

	/**
	 * Adds the CORS response headers when the request's Origin is allowed
	 * ({@code dicomfhir.dicomweb.cors-allowed-origins}); returns whether it is.
	 */
	private boolean cors(HttpServletRequest theRequest, HttpServletResponse theResponse) {
		String origin = theRequest.getHeader("Origin");
		List<String> allowed = myWebProperties.getCorsAllowedOrigins();
		if (origin == null || allowed == null || allowed.isEmpty()) {
			return false;
		}
		boolean any = allowed.stream().anyMatch(a -> "*".equals(a.trim()));
		boolean listed = allowed.stream().anyMatch(a -> a.trim().equalsIgnoreCase(origin));
		if (!any && !listed) {
			return false;
		}
		theResponse.setHeader("Access-Control-Allow-Origin", origin);
		theResponse.addHeader("Vary", "Origin");
		theResponse.setHeader("Access-Control-Allow-Credentials", "true");
		theResponse.setHeader("Access-Control-Expose-Headers", "Warning, ETag, Content-Location, Content-Type, Content-Length");
		return true;
	}

	private static ServletRequestDetails requestDetails(RestfulServer theServer, HttpServletRequest theRequest, HttpServletResponse theResponse) {
		ServletRequestDetails details = new ServletRequestDetails(theServer.getInterceptorService());
		details.setServer(theServer);
		RequestTypeEnum type;
		try {
			type = RequestTypeEnum.valueOf(theRequest.getMethod());
		} catch (IllegalArgumentException e) {
			throw new DicomWebException(405, "Unsupported method " + theRequest.getMethod());
		}
		details.setRequestType(type);
		details.setServletRequest(theRequest);
		details.setServletResponse(theResponse);
		String query = theRequest.getQueryString();
		try {
			details.setParameters(query == null || query.isBlank() ? new HashMap<>() : UrlUtil.parseQueryString(query));
		} catch (IllegalArgumentException e) {
			throw DicomWebException.badRequest("Malformed query string: " + e.getMessage());
		}
		String path = theRequest.getPathInfo();
		details.setRequestPath(path.startsWith("/") ? path.substring(1) : path);
		details.setCompleteUrl(theRequest.getRequestURL() + (query == null ? "" : "?" + query));
		details.setFhirServerBase(theServer.getServerBaseForRequest(details));
		return details;
	}

	private String serviceBase(RequestDetails theRequestDetails) {
		String base = theRequestDetails.getFhirServerBase();
		if (base.endsWith("/")) {
			base = base.substring(0, base.length() - 1);
		}
		return base + prefix();
	}

	private void route(DicomWebRequest theRequest, String theMethod, List<String> theSeg) throws IOException {
		int n = theSeg.size();
		if ("OPTIONS".equals(theMethod)) {
			if (n != 0) {
				theRequest.servletResponse().setHeader("Allow", "GET, HEAD, POST, DELETE, OPTIONS");
				theRequest.servletResponse().setStatus(204);
				return;
			}
			Capabilities.write(theRequest);
			return;
		}
		if (n == 0 && ("GET".equals(theMethod) || "HEAD".equals(theMethod)) && theRequest.servletRequest().getParameter("requestType") != null) {
			// WADO-URI (PS3.18 §9): GET <service root>?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..
			WadoUri uri = WadoUri.parse(theRequest.servletRequest());
			authorizeRead(theRequest, uri.studyUid());
			if (uri.renderedMediaType() != null) {
				myWado.rendering().renderedUri(theRequest, uri, uri.renderedMediaType());
			} else {
				myWado.retrieveUri(theRequest, uri);
			}
			return;
		}
		if (n == 0) {
			throw new DicomWebException(404, "DICOMweb service root: use /studies, /series or /instances (OPTIONS: capabilities),"
					+ " or WADO-URI: ?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…&contentType=application/dicom");
		}
		String first = theSeg.get(0);
		boolean studies = "studies".equals(first);
		checkPathUids(theSeg);
		if ("POST".equals(theMethod)) {
			if (studies && n <= 2) {
				authorize(theRequest, "Binary", RestOperationTypeEnum.UPDATE);
				myStow.store(theRequest, n == 2 ? theSeg.get(1) : null);
				return;
			}
			throw new DicomWebException(405, "POST is only allowed on /studies and /studies/{StudyInstanceUID} (STOW-RS)");
		}
		if ("DELETE".equals(theMethod)) {
			// /studies/{s}[/series/{se}[/instances/{i}]]
			boolean shape = studies && (n == 2 || (n == 4 && "series".equals(theSeg.get(2)))
					|| (n == 6 && "series".equals(theSeg.get(2)) && "instances".equals(theSeg.get(4))));
			if (!shape) {
				throw new DicomWebException(405, "DELETE is only allowed on a study, series or instance");
			}
			authorize(theRequest, "Binary", RestOperationTypeEnum.DELETE);
			myDelete.delete(theRequest, theSeg.get(1), n >= 4 ? theSeg.get(3) : null, n == 6 ? theSeg.get(5) : null);
			return;
		}
		if (!"GET".equals(theMethod) && !"HEAD".equals(theMethod)) {
			throw new DicomWebException(405, theMethod + " is not supported on the DICOMweb facade");
		}
		// QIDO-RS
		if (n == 1 && (studies || "series".equals(first) || "instances".equals(first))) {
			authorize(theRequest, "ImagingStudy", RestOperationTypeEnum.SEARCH_TYPE);
			myQido.search(theRequest, studies ? "study" : "series".equals(first) ? "series" : "instance", null, null);
			return;
		}
		if (!studies) {
			throw new DicomWebException(404, "Unknown DICOMweb resource /" + String.join("/", theSeg));
		}
		String study = theSeg.get(1);
		if (n == 3 && "series".equals(theSeg.get(2))) {
			authorize(theRequest, "ImagingStudy", RestOperationTypeEnum.SEARCH_TYPE);
			myQido.search(theRequest, "series", study, null);
			return;
		}
		if (n == 3 && "instances".equals(theSeg.get(2))) {
			authorize(theRequest, "ImagingStudy", RestOperationTypeEnum.SEARCH_TYPE);
			myQido.search(theRequest, "instance", study, null);
			return;
		}
		if (n == 5 && "series".equals(theSeg.get(2)) && "instances".equals(theSeg.get(4))) {
			authorize(theRequest, "ImagingStudy", RestOperationTypeEnum.SEARCH_TYPE);
			myQido.search(theRequest, "instance", study, theSeg.get(3));
			return;
		}
		// WADO-RS: /studies/{s}[/series/{se}[/instances/{i}]][/metadata|/rendered|/thumbnail|/frames/..[/rendered|/thumbnail]|/bulkdata/..]
		String series = null;
		String instance = null;
		int i = 2;
		if (i < n && "series".equals(theSeg.get(i))) {
			if (i + 1 >= n) {
				throw new DicomWebException(404, "Missing SeriesInstanceUID after /series");
			}
			series = theSeg.get(i + 1);
			i += 2;
			if (i < n && "instances".equals(theSeg.get(i))) {
				if (i + 1 >= n) {
					throw new DicomWebException(404, "Missing SOPInstanceUID after /instances");
				}
				instance = theSeg.get(i + 1);
				i += 2;
			}
		}
		String tail = i < n ? theSeg.get(i) : null;
		authorizeRead(theRequest, study);
		if (tail == null) {
			myWado.retrieve(theRequest, study, series, instance);
		} else if ("metadata".equals(tail) && i + 1 == n) {
			myWado.metadata(theRequest, study, series, instance);
		} else if ("rendered".equals(tail) && i + 1 == n) {
			myWado.rendering().rendered(theRequest, study, series, instance, null);
		} else if ("thumbnail".equals(tail) && i + 1 == n) {
			myWado.rendering().thumbnail(theRequest, study, series, instance, null);
		} else if ("frames".equals(tail) && i + 3 == n && instance != null && "rendered".equals(theSeg.get(i + 2))) {
			myWado.rendering().rendered(theRequest, study, series, instance, theSeg.get(i + 1));
		} else if ("frames".equals(tail) && i + 3 == n && instance != null && "thumbnail".equals(theSeg.get(i + 2))) {
			myWado.rendering().thumbnail(theRequest, study, series, instance, theSeg.get(i + 1));
		} else if ("frames".equals(tail) && i + 2 == n) {
			myWado.bulkData().frames(theRequest, study, series, instance, theSeg.get(i + 1));
		} else if ("frames".equals(tail)) {
			throw new DicomWebException(400, "Expected a frame list after /frames, e.g. /frames/1,3,5");
		} else if ("bulkdata".equals(tail) && i + 1 < n) {
			myWado.bulkData().bulkdata(theRequest, study, series, instance, String.join("/", theSeg.subList(i + 1, n)));
		} else if ("pixeldata".equals(tail) && i + 1 == n && instance != null) {
			myWado.bulkData().bulkdata(theRequest, study, series, instance, "7FE00010");
		} else if ("pixeldata".equals(tail)) {
			throw new DicomWebException(501, "/pixeldata is served at instance level only on this server");
		} else {
			throw new DicomWebException(404, "Unknown DICOMweb resource /" + String.join("/", theSeg));
		}
	}

	/**
	 * Fires what HAPI fires for the equivalent FHIR operation once it has selected a handler:
	 * SERVER_INCOMING_REQUEST_POST_PROCESSED (SearchNarrowingInterceptor adds its compartment
	 * parameters to the RequestDetails there; QIDO applies them) and then
	 * SERVER_INCOMING_REQUEST_PRE_HANDLED (AuthorizationInterceptor's operation rules, audit).
	 * A hook answering false at POST_PROCESSED has written the response itself.
	 */
	private void authorize(DicomWebRequest theRequest, String theResourceName, RestOperationTypeEnum theOperation) {
		ServletRequestDetails details = theRequest.details();
		details.setResourceName(theResourceName);
		details.setRestOperationType(theOperation);
		IInterceptorBroadcaster broadcaster = details.getInterceptorBroadcaster();
		if (broadcaster == null) {
			return;
		}
		if (broadcaster.hasHooks(Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED)) {
			HookParams params = new HookParams()
					.add(RequestDetails.class, details)
					.add(ServletRequestDetails.class, details)
					.add(HttpServletRequest.class, theRequest.servletRequest())
					.add(HttpServletResponse.class, theRequest.servletResponse());
			if (!broadcaster.callHooks(Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED, params)) {
				throw new ResponseWritten();
			}
		}
		if (broadcaster.hasHooks(Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLED)) {
			HookParams params = new HookParams()
					.add(RequestDetails.class, details)
					.add(ServletRequestDetails.class, details)
					.add(RestOperationTypeEnum.class, theOperation);
			broadcaster.callHooks(Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLED, params);
		}
	}

	/**
	 * A retrieve by UID is a read of the study (SMART {@code r}), not a search ({@code s}): authorized
	 * as HAPI's READ of {@code ImagingStudy/<Study Instance UID>} (the plugin's study id; HAPI's read
	 * rules need the id a read names). The request stays a READ while it is served, so the lookups
	 * of the study, its series and its Binaries are checked as reads.
	 */
	private void authorizeRead(DicomWebRequest theRequest, String theStudyUid) {
		ServletRequestDetails details = theRequest.details();
		IIdType previous = details.getId();
		details.setId(new IdType("ImagingStudy", theStudyUid));
		try {
			authorize(theRequest, "ImagingStudy", RestOperationTypeEnum.READ);
		} finally {
			details.setId(previous);
		}
	}

	/** A hook wrote the response; nothing more to send. */
	static final class ResponseWritten extends RuntimeException {
		ResponseWritten() {
			super(null, null, false, false);
		}
	}

	/** UIDs in the path (after studies/, series/, instances/) must be UIDs: 400 otherwise, not a search for garbage. */
	private static void checkPathUids(List<String> theSeg) {
		for (int i = 0; i + 1 < theSeg.size(); i++) {
			String s = theSeg.get(i);
			if ((i == 0 && "studies".equals(s)) || (i == 2 && "series".equals(s)) || (i == 4 && "instances".equals(s))) {
				String uid = theSeg.get(i + 1);
				if (!isUid(uid)) {
					throw DicomWebException.badRequest("\"" + uid + "\" is not a valid UID (digits and dots, at most 64 characters)");
				}
			}
		}
	}

	static boolean isUid(String theUid) {
		return theUid != null && theUid.length() <= 64 && theUid.matches("[0-9]+(\\.[0-9]+)*");
	}

	static void error(HttpServletResponse theResponse, int theStatus, String theMessage) throws IOException {
		error(theResponse, theStatus, theMessage, java.util.Map.of());
	}

	static void error(HttpServletResponse theResponse, int theStatus, String theMessage, java.util.Map<String, String> theHeaders)
			throws IOException {
		if (theResponse.isCommitted()) {
			ourLog.warn("DICOMweb error after the response started ({}): {}", theStatus, theMessage);
			return;
		}
		// keep the CORS headers, so a browser can read the error
		java.util.Map<String, String> cors = new java.util.LinkedHashMap<>();
		for (String name : theResponse.getHeaderNames()) {
			if (name.toLowerCase(java.util.Locale.ROOT).startsWith("access-control-") || "vary".equalsIgnoreCase(name)) {
				cors.put(name, theResponse.getHeader(name));
			}
		}
		theResponse.reset();
		cors.forEach(theResponse::setHeader);
		theHeaders.forEach(theResponse::setHeader);
		theResponse.setStatus(theStatus);
		theResponse.setContentType("text/plain;charset=utf-8");
		byte[] body = ((theMessage == null ? "Error " + theStatus : theMessage) + "\n").getBytes(StandardCharsets.UTF_8);
		theResponse.setContentLength(body.length);
		try (OutputStream out = theResponse.getOutputStream()) {
			out.write(body);
		}
	}
}
