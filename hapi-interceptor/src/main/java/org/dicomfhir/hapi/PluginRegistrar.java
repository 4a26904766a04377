package org.dicomfhir.hapi;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.context.event.EventListener;
import org.dicomfhir.hapi.ingest.DicomBinaryUploadInterceptor;
import org.dicomfhir.hapi.ingest.DicomStorageInterceptor;
import org.dicomfhir.hapi.ingest.RequestSizeLimitInterceptor;
import org.dicomfhir.hapi.status.DicomStatusProvider;
import org.dicomfhir.hapi.studywrite.ReadYourWritesInterceptor;

/**
 * Registers the hooks where HAPI fires them: storage hooks on the JPA interceptor service (so they
 * fire for every write, REST or internal), request hooks on the RestfulServer. Done once every
 * singleton exists and before the web server takes requests (SmartInitializingSingleton), so no
 * upload is ever stored without the plugin; the starter's ContextRefreshedEvent comes after Tomcat
 * has started, and a Binary POSTed in between would not be content-addressed. The conformance
 * resources are DAO writes and wait for the refreshed context.
 */
public class PluginRegistrar implements SmartInitializingSingleton {

	private static final Logger ourLog = LoggerFactory.getLogger(PluginRegistrar.class);

	private final IInterceptorService myJpaInterceptors;
	private final ObjectProvider<RestfulServer> myRestfulServer;
	private final DicomStorageInterceptor myStorageInterceptor;
	private final DicomBinaryUploadInterceptor myUploadInterceptor;
	private final ReadYourWritesInterceptor myReadBarrier;
	private final ConformanceResources myConformanceResources;
	private final RequestSizeLimitInterceptor mySizeLimit;
	private final DicomStatusProvider myStatus;
	private boolean myRegistered;
	private boolean myPublished;

	public PluginRegistrar(
			IInterceptorService theJpaInterceptors,
			ObjectProvider<RestfulServer> theRestfulServer,
			DicomStorageInterceptor theStorageInterceptor,
			DicomBinaryUploadInterceptor theUploadInterceptor,
			ReadYourWritesInterceptor theReadBarrier,
			ConformanceResources theConformanceResources,
			RequestSizeLimitInterceptor theSizeLimit,
			DicomStatusProvider theStatus) {
		mySizeLimit = theSizeLimit;
		myStatus = theStatus;
		myJpaInterceptors = theJpaInterceptors;
		myRestfulServer = theRestfulServer;
		myStorageInterceptor = theStorageInterceptor;
		myUploadInterceptor = theUploadInterceptor;
		myReadBarrier = theReadBarrier;
		myConformanceResources = theConformanceResources;
	}

	@Override
	public synchronized void afterSingletonsInstantiated() {
		if (myRegistered) {
			return;
		}
		myRegistered = true;
		myJpaInterceptors.registerInterceptor(myStorageInterceptor);
		RestfulServer server = myRestfulServer.getIfAvailable();
		if (server == null) {
			ourLog.warn("No RestfulServer bean: DICOM Binary POSTs are not content-addressed on the REST layer");
		} else {
			server.registerInterceptor(mySizeLimit);
			server.registerInterceptor(myUploadInterceptor);
			server.registerProvider(myStatus);
			server.registerInterceptor(myReadBarrier);
		}
		ourLog.info("dicom-fhir plugin active (native library {})", org.dicomfhir.bridge.DicomNative.version());
	}

	@EventListener(ContextRefreshedEvent.class)
	public synchronized void publish() {
		if (myPublished) {
			return;
		}
		myPublished = true;
		myConformanceResources.publish();
	}
}
