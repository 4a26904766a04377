package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;

/**
 * A refused upload (not DICOM, another patient than its study's, other bytes under a stored SOP
 * Instance UID …) is the client's mistake, answered 4xx; HAPI's interceptor service nevertheless
 * logs every exception a hook throws as an ERROR with its whole stack trace (some 80 lines), before
 * the exception becomes the answer. This Logback filter drops that event when the exception is a
 * 4xx thrown by this plugin's own code and logs one line instead: the status, the pointcut and the
 * reason. Everything else (5xx, other interceptors' exceptions) is logged as before.
 */
public final class RefusalLogFilter extends TurboFilter {

	static final String NAME = "dicomfhir-refusal-log";
	private static final String HAPI_INTERCEPTOR_SERVICE = "ca.uhn.fhir.interceptor.executor.BaseInterceptorService";
	private static final org.slf4j.Logger ourLog = LoggerFactory.getLogger(RefusalLogFilter.class);

	/** Adds the filter to Logback's context once; does nothing when Logback is not the logging backend. */
	public static void install() {
		if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context
				&& context.getTurboFilterList().stream().noneMatch(f -> NAME.equals(f.getName()))) {
			RefusalLogFilter filter = new RefusalLogFilter();
			filter.setName(NAME);
			filter.start();
			context.addTurboFilter(filter);
		}
	}

	@Override
	public FilterReply decide(Marker theMarker, Logger theLogger, Level theLevel, String theFormat, Object[] theParams, Throwable theThrown) {
		if (theLevel != Level.ERROR || theLogger == null || !HAPI_INTERCEPTOR_SERVICE.equals(theLogger.getName())) {
			return FilterReply.NEUTRAL;
		}
		Throwable thrown = theThrown;
		if (thrown == null && theParams != null && theParams.length > 0 && theParams[theParams.length - 1] instanceof Throwable last) {
			thrown = last;
		}
		if (!(thrown instanceof BaseServerResponseException refusal) || refusal.getStatusCode() >= 500 || !thrownByThePlugin(refusal)) {
			return FilterReply.NEUTRAL;
		}
		Object pointcut = theParams != null && theParams.length > 0 ? theParams[0] : "?";
		ourLog.info("Refused, {} at {}: {}", refusal.getStatusCode(), pointcut, refusal.getMessage());
		return FilterReply.DENY;
	}

	private static boolean thrownByThePlugin(Throwable theThrown) {
		StackTraceElement[] trace = theThrown.getStackTrace();
		return trace.length > 0 && trace[0].getClassName().startsWith("org.dicomfhir.");
	}
}
