package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * SMART on FHIR, only when {@code dicomfhir.smart.enabled=true}: without it none of these beans
 * exists and no request changes. Needs from the root wiring a {@link PatientResolver} and the
 * {@link SmartCors} origins.
 */
@Configuration
@ConditionalOnProperty(prefix = "dicomfhir.smart", name = "enabled", havingValue = "true")
@EnableConfigurationProperties(SmartProperties.class)
public class SmartConfiguration {

	@Bean
	public IssuerMetadata dicomFhirSmartIssuer(SmartProperties theProperties) {
		require(theProperties.getIssuer(), "dicomfhir.smart.issuer");
		require(theProperties.getAudience(), "dicomfhir.smart.audience");
		return new IssuerMetadata(theProperties);
	}

	private static void require(String theValue, String theName) {
		if (theValue == null || theValue.isBlank()) {
			throw new IllegalStateException(theName + " is required when dicomfhir.smart.enabled is true");
		}
	}

	@Bean
	public TokenValidator dicomFhirSmartTokenValidator(SmartProperties theProperties, IssuerMetadata theIssuer) {
		return new TokenValidator(theProperties, theIssuer);
	}

	@Bean
	public PatientContext dicomFhirSmartPatientContext(PatientResolver theResolver, SmartProperties theProperties) {
		return new PatientContext(theResolver, theProperties);
	}

	@Bean
	public SmartRegistrar dicomFhirSmartRegistrar(IInterceptorService theJpaInterceptors, ObjectProvider<RestfulServer> theServer,
			TokenValidator theValidator, SmartCors theCors, PatientContext thePatients, IssuerMetadata theIssuer) {
		return new SmartRegistrar(theJpaInterceptors, theServer, new BearerTokenInterceptor(theValidator, theCors),
				new SmartAuthorizationInterceptor(thePatients), new SmartSearchNarrowingInterceptor(thePatients),
				new SmartDiscovery(theIssuer), new EndpointAccessTokenHook());
	}

	/** Registers the hooks before the web server takes requests (as the plugin's own registrar does). */
	public static class SmartRegistrar implements SmartInitializingSingleton {

		private static final Logger ourLog = LoggerFactory.getLogger(SmartRegistrar.class);

		private final IInterceptorService myJpaInterceptors;
		private final ObjectProvider<RestfulServer> myServer;
		private final Object[] myRequestHooks;
		private final EndpointAccessTokenHook myEndpointHook;

		SmartRegistrar(IInterceptorService theJpaInterceptors, ObjectProvider<RestfulServer> theServer, BearerTokenInterceptor theBearer,
				SmartAuthorizationInterceptor theAuthorization, SmartSearchNarrowingInterceptor theNarrowing, SmartDiscovery theDiscovery,
				EndpointAccessTokenHook theEndpointHook) {
			myJpaInterceptors = theJpaInterceptors;
			myServer = theServer;
			myRequestHooks = new Object[] {theDiscovery, theBearer, theNarrowing, theAuthorization};
			myEndpointHook = theEndpointHook;
		}

		@Override
		public void afterSingletonsInstantiated() {
			RestfulServer server = myServer.getIfAvailable();
			if (server == null) {
				throw new IllegalStateException("dicomfhir.smart.enabled is true but there is no RestfulServer to protect");
			}
			for (Object hook : myRequestHooks) {
				server.registerInterceptor(hook);
			}
			myJpaInterceptors.registerInterceptor(myEndpointHook);
			ourLog.info("SMART on FHIR: bearer tokens required on every FHIR and DICOMweb request");
		}
	}
}
