package org.dicomfhir.example;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;

/**
 * A small HAPI FHIR 8.8.0 JPA server (FHIR R4) wired the way the official
 * hapi-fhir-jpaserver-starter wires itself, so the dicom-fhir plugin runs here exactly as it
 * runs in an operator's starter installation:
 *
 * <ul>
 *   <li>the plugin is found by {@code @ComponentScan("${hapi.fhir.custom-bean-packages:}")},
 *   <li>the {@link ca.uhn.fhir.rest.server.RestfulServer} serving {@code /fhir/*} is a Spring bean,
 *   <li>the JPA {@link ca.uhn.fhir.interceptor.api.IInterceptorService} is a Spring bean (from HAPI's
 *       configuration) and HAPI's {@code BinaryStorageInterceptor} is registered on it.
 * </ul>
 *
 * <p>FHIR base: {@code http://localhost:8080/fhir}. See {@code docs/operators.md}.
 */
@SpringBootApplication(
		exclude = {
			ElasticsearchRestClientAutoConfiguration.class,
			ThymeleafAutoConfiguration.class,
			// HAPI runs its own Quartz schedulers; Boot's would be an idle extra one.
			QuartzAutoConfiguration.class
		})
public class ExampleServerApplication {

	public static void main(String[] args) {
		SpringApplication.run(ExampleServerApplication.class, args);
	}
}
