package org.dicomfhir.hapi.config;

import org.dicomfhir.bridge.DeriveOptions;

/** The derivation settings handed to the Rust core with every parse. */
public class NativeOptions {

	private final DeriveOptions myDeriveOptions;

	public NativeOptions(DicomFhirProperties theProperties) {
		myDeriveOptions = new DeriveOptions(theProperties.getPatientIdentifierSystem(), theProperties.getDefaultTimezone());
	}

	public DeriveOptions derive() {
		return myDeriveOptions;
	}
}
