/**
 * SMART on FHIR, the resource server's side (off unless {@code dicomfhir.smart.enabled=true}):
 * bearer tokens checked on every request of the FHIR servlet (FHIR and DICOMweb paths), scopes
 * turned into HAPI authorization rules, patient-context searches narrowed to the patient, and the
 * discovery documents ({@code .well-known/smart-configuration}, CapabilityStatement security).
 *
 * <p>Uses only {@code config}; what it needs from the rest of the plugin (the exact-identifier
 * patient lookup, the DICOMweb CORS origins) the root wiring hands it as plain interfaces, so
 * nothing but the root depends on this package (docs/security.md, "Tokens (SMART on FHIR)").
 */
package org.dicomfhir.hapi.smart;
