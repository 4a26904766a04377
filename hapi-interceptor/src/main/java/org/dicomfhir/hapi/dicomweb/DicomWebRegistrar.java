package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.context.event.EventListener;

/** Registers the DICOMweb facade on HAPI's RestfulServer once the context is up. */
public class DicomWebRegistrar {

	private static final Logger ourLog = LoggerFactory.getLogger(DicomWebRegistrar.class);

	private final ObjectProvider<RestfulServer> myRestfulServer;
	private final DicomWebInterceptor myInterceptor;
	private boolean myRegistered;

	public DicomWebRegistrar(ObjectProvider<RestfulServer> theRestfulServer, DicomWebInterceptor theInterceptor) {
		myRestfulServer = theRestfulServer;
		myInterceptor = theInterceptor;
	}

	@EventListener(ContextRefreshedEvent.class)
	public synchronized void register() {
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
