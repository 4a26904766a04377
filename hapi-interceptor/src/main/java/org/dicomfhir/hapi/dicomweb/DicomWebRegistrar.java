package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;

/**
 * Registers the DICOMweb facade on HAPI's RestfulServer once every singleton exists, before the
 * web server takes requests (see org.dicomfhir.hapi.PluginRegistrar).
 */
public class DicomWebRegistrar implements SmartInitializingSingleton {

	private static final Logger ourLog = LoggerFactory.getLogger(DicomWebRegistrar.class);

	private final ObjectProvider<RestfulServer> myRestfulServer;
	private final DicomWebInterceptor myInterceptor;
	private boolean myRegistered;

	public DicomWebRegistrar(ObjectProvider<RestfulServer> theRestfulServer, DicomWebInterceptor theInterceptor) {
		myRestfulServer = theRestfulServer;
		myInterceptor = theInterceptor;
	}

	@Override
	public synchronized void afterSingletonsInstantiated() {
		if (myRegistered) {
			return;
		}
		myRegistered = true;
		RestfulServer server = myRestfulServer.getIfAvailable();
		if (server == null) {
			ourLog.warn("No RestfulServer bean: the DICOMweb facade is not served");
			return;
		}
		myInterceptor.setServer(server);
		server.registerInterceptor(myInterceptor);
		ourLog.info("DICOMweb facade active below the FHIR base");
	}
}
