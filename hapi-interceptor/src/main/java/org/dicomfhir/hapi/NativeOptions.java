package org.dicomfhir.hapi;

import org.dicomfhir.bridge.DeriveOptions;

/** The derivation settings handed to the Rust core with every parse. */
public class NativeOptions {

	private final DeriveOptions myDeriveOptions;

	public NativeOptions(DicomFhirProperties theProperties) {
		myDeriveOptions = new DeriveOptions(theProperties.getPatientIdentifierSystem(), theProperties.getDefaultTimezone());
	}

	DeriveOptions derive() {
		return myDeriveOptions;
	}
}
