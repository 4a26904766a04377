package org.dicomfhir.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import org.hl7.fhir.r4.model.StructureDefinition;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Publishes the plugin's extensions as StructureDefinitions, so validators and clients can resolve them. */
public class ExtensionDefinitions {

	static final String BASE = "http://dicomfhir.org/fhir/StructureDefinition/";
	static final String INSTANCE_BINARY = BASE + "instance-binary";
	static final String INSTANCE_ATTRIBUTES = BASE + "instance-attributes";
	private static final String[] RESOURCES = {"instance-binary", "instance-attributes"};

	private final FhirContext myFhirContext;
	private final DaoRegistry myDaoRegistry;

	public ExtensionDefinitions(FhirContext theFhirContext, DaoRegistry theDaoRegistry) {
		myFhirContext = theFhirContext;
		myDaoRegistry = theDaoRegistry;
	}

	void publish() {
		for (String name : RESOURCES) {
			StructureDefinition definition = myFhirContext.newJsonParser().parseResource(StructureDefinition.class, read(name));
			// An unchanged definition is a no-op update; a newer plugin version replaces the old one.
			myDaoRegistry.getResourceDao(StructureDefinition.class).update(definition, new SystemRequestDetails());
		}
	}

	private static String read(String theName) {
		String path = theName + ".StructureDefinition.json";
		try (InputStream in = ExtensionDefinitions.class.getResourceAsStream(path)) {
			if (in == null) {
				throw new IllegalStateException("missing resource " + path);
			}
			return new String(in.readAllBytes(), StandardCharsets.UTF_8);
		} catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}
}
