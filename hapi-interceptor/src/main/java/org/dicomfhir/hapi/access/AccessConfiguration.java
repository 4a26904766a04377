package org.dicomfhir.hapi.access;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.studywrite.PatientDirectory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Beans of the owner check; imported by the plugin's DicomFhirConfiguration. The Binary hooks go on
 * the JPA interceptor service (every DAO access, REST or operation) before the web server takes
 * requests, like the plugin's storage hooks.
 */
@Configuration
public class AccessConfiguration {

	@Bean
	public StudyAccess dicomFhirStudyAccess(ObjectProvider<RestfulServer> theServer, IInterceptorService theJpaInterceptors,
			DaoRegistry theDaoRegistry, InstanceLedger theLedger, PatientDirectory thePatients) {
		return new StudyAccess(theServer, theJpaInterceptors, theDaoRegistry, theLedger, thePatients);
	}

	@Bean
	public DicomBinaryAccessInterceptor dicomFhirBinaryAccess(StudyAccess theAccess) {
		return new DicomBinaryAccessInterceptor(theAccess);
	}

	@Bean
	public SmartInitializingSingleton dicomFhirBinaryAccessRegistrar(IInterceptorService theJpaInterceptors,
			DicomBinaryAccessInterceptor theInterceptor) {
		return () -> {
			if (!theJpaInterceptors.getAllRegisteredInterceptors().contains(theInterceptor)) {
				theJpaInterceptors.registerInterceptor(theInterceptor);
			}
		};
	}
}
