package org.dicomfhir.example.config;

import ca.uhn.fhir.context.ConfigurationException;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.binary.provider.BinaryAccessProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.CorsInterceptor;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.interceptor.ResponseHighlighterInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import ca.uhn.fhir.batch2.jobs.bulkmodify.reindex.ReindexProvider;
import org.springframework.beans.factory.NoSuchBeanDefinitionException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpHeaders;
import org.springframework.web.cors.CorsConfiguration;

import java.util.List;

/**
 * The FHIR REST layer: one {@link RestfulServer} <b>Spring bean</b> (plugins autowire it and register
 * their server-level interceptors on it) mapped at {@code /fhir/*}.
 */
@Configuration
public class FhirRestfulServerConfig {

	public static final String FHIR_SERVLET_PATH = "/fhir/*";

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			JpaSystemProvider<?, ?> systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			ObjectProvider<BinaryAccessProvider> binaryAccessProvider,
			ObjectProvider<ReindexProvider> reindexProvider,
			ExampleServerProperties props,
			ApplicationContext appContext) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		systemDao.getContext().setNarrativeGenerator(new NullNarrativeGenerator());

		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(systemProvider);
		if (props.isBinaryStorageEnabled()) {
			// $binary-access-read / $binary-access-write
			server.registerProvider(binaryAccessProvider.getObject());
		}
		ReindexProvider reindex = reindexProvider.getIfAvailable();
		if (reindex != null) {
			server.registerProvider(reindex); // $reindex, for custom SearchParameters
		}

		JpaCapabilityStatementProvider capabilityStatement = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilityStatement.setImplementationDescription("dicom-fhir example server (HAPI FHIR R4 JPA)");
		server.setServerConformanceProvider(capabilityStatement);

		pagingProvider.setDefaultPageSize(props.getDefaultPageSize());
		pagingProvider.setMaximumPageSize(props.getMaxPageSize());
		server.setPagingProvider(pagingProvider);

		server.setDefaultPrettyPrint(props.isDefaultPrettyPrint());
		if (props.getServerAddress() != null && !props.getServerAddress().isBlank()) {
			server.setServerAddressStrategy(new HardcodedServerAddressStrategy(props.getServerAddress()));
		} else {
			server.setServerAddressStrategy(new IncomingRequestAddressStrategy());
		}

		// First of the server's own interceptors, as in the starter: it answers CORS preflights for
		// every path of the servlet, the DICOMweb facade's too (registered later, by the plugin).
		CorsInterceptor cors = corsInterceptor(props.getCors());
		if (cors != null) {
			server.registerInterceptor(cors);
		}
		if (props.isResponseHighlighterEnabled()) {
			server.registerInterceptor(new ResponseHighlighterInterceptor());
		}
		if (props.isRequestLoggingEnabled()) {
			LoggingInterceptor logging = new LoggingInterceptor();
			logging.setLoggerName("fhir.access");
			logging.setMessageFormat(
					"${operationType} ${idOrResourceName} ${requestUrl} -> ${processingTimeMillis}ms");
			logging.setLogExceptions(true);
			server.registerInterceptor(logging);
		}

		registerCustomInterceptors(server, appContext, props);
		return server;
	}

	/**
	 * HAPI's CorsInterceptor configured as the starter configures it ({@code hapi.fhir.cors.*}),
	 * plus what a DICOMweb viewer reads: ETag, Content-Type, Warning (QIDO paging) and
	 * WWW-Authenticate (SMART) are exposed, If-None-Match/If-Match allowed. Null when no origin is
	 * allowed (CORS off).
	 */
	static CorsInterceptor corsInterceptor(ExampleServerProperties.Cors theCors) {
		List<String> origins = theCors.origins();
		if (origins.isEmpty()) {
			return null;
		}
		CorsConfiguration config = new CorsConfiguration();
		for (String header : List.of(HttpHeaders.ORIGIN, HttpHeaders.ACCEPT, HttpHeaders.CONTENT_TYPE, HttpHeaders.AUTHORIZATION,
				HttpHeaders.CACHE_CONTROL, "X-Requested-With", "Prefer", HttpHeaders.IF_NONE_MATCH, HttpHeaders.IF_MATCH)) {
			config.addAllowedHeader(header);
		}
		origins.forEach(config::addAllowedOriginPattern);
		for (String header : List.of(HttpHeaders.LOCATION, HttpHeaders.CONTENT_LOCATION, HttpHeaders.ETAG, HttpHeaders.CONTENT_TYPE,
				HttpHeaders.LAST_MODIFIED, "Warning", HttpHeaders.WWW_AUTHENTICATE)) {
			config.addExposedHeader(header);
		}
		config.setAllowedMethods(List.of("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"));
		config.setAllowCredentials(theCors.isAllowCredentials());
		return new CorsInterceptor(config);
	}

	/** Same contract as the starter's {@code hapi.fhir.custom-interceptor-classes}. */
	private static void registerCustomInterceptors(
			RestfulServer server, ApplicationContext appContext, ExampleServerProperties props) {
		for (String className : props.getCustomInterceptorClasses()) {
			if (className == null || className.isBlank()) {
				continue;
			}
			Class<?> clazz;
			try {
				clazz = Class.forName(className.trim());
			} catch (ClassNotFoundException e) {
				throw new ConfigurationException("Interceptor class was not found on classpath: " + className, e);
			}
			Object interceptor;
			try {
				interceptor = appContext.getBean(clazz);
			} catch (NoSuchBeanDefinitionException e) {
				try {
					interceptor = clazz.getConstructor().newInstance();
				} catch (ReflectiveOperationException ex) {
					throw new ConfigurationException("Unable to instantiate interceptor class: " + className, ex);
				}
			}
			server.registerInterceptor(interceptor);
		}
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer restfulServer) {
		ServletRegistrationBean<RestfulServer> registration =
				new ServletRegistrationBean<>(restfulServer, FHIR_SERVLET_PATH);
		registration.setName("fhirServlet");
		registration.setLoadOnStartup(1);
		return registration;
	}
}
