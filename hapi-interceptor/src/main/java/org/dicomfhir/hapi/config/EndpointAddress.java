package org.dicomfhir.hapi.config;

import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.core.env.Environment;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The DICOMweb address the plugin writes into every study's Endpoint: the operator's
 * {@code dicomfhir.public-base-url}, else the server address HAPI is configured with
 * ({@code hapi.fhir.server_address}). Never the Host or X-Forwarded-* headers of a request: a
 * stored address is followed by every later client, so a forged header would send them elsewhere.
 */
public class EndpointAddress {

	private static final Logger ourLog = LoggerFactory.getLogger(EndpointAddress.class);

	static final String PUBLIC_BASE_URL = "dicomfhir.public-base-url";

	private final DicomFhirProperties myProperties;
	private final ObjectProvider<RestfulServer> myServer;
	private final Environment myEnvironment;
	private final AtomicBoolean myWarned = new AtomicBoolean();

	public EndpointAddress(DicomFhirProperties theProperties, ObjectProvider<RestfulServer> theServer, Environment theEnvironment) {
		myEnvironment = theEnvironment;
		myProperties = theProperties;
		myServer = theServer;
	}

	/** The FHIR base URL clients should use, or null when none is configured. */
	public String fhirBase() {
		// Read at use, not at start-up: the value may name the port the server got (${local.server.port}).
		String base = myEnvironment.getProperty(PUBLIC_BASE_URL, myProperties.getPublicBaseUrl() == null ? "" : myProperties.getPublicBaseUrl());
		if (base == null || base.isBlank()) {
			RestfulServer server = myServer.getIfAvailable();
			if (server != null && server.getServerAddressStrategy() instanceof HardcodedServerAddressStrategy hardcoded) {
				base = hardcoded.getValue();
			}
		}
		return base == null || base.isBlank() ? null : stripTrailingSlash(base.trim());
	}

	/** The DICOMweb facade's address, or null (no Endpoint is written; warned once). */
	public String dicomweb() {
		String base = fhirBase();
		if (base == null) {
			if (myWarned.compareAndSet(false, true)) {
				ourLog.warn("No public base URL is configured (dicomfhir.public-base-url or hapi.fhir.server_address):"
						+ " ImagingStudies get no DICOMweb Endpoint. Request headers are never used for it.");
			}
			return null;
		}
		return base + "/" + stripTrailingSlash(myProperties.getDicomwebPath().replaceAll("^/+", ""));
	}

	private static String stripTrailingSlash(String theValue) {
		return theValue.endsWith("/") ? theValue.substring(0, theValue.length() - 1) : theValue;
	}
}
