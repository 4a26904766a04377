/**
 * What the operator configured: the {@code dicomfhir.*} properties
 * ({@link org.dicomfhir.hapi.config.DicomFhirProperties}), the derivation options handed to the
 * Rust core with every parse ({@link org.dicomfhir.hapi.config.NativeOptions}), and the public
 * DICOMweb address written into every study's Endpoint
 * ({@link org.dicomfhir.hapi.config.EndpointAddress}); and the one contract between an
 * authorization interceptor and the access layer ({@link org.dicomfhir.hapi.config.TypeWideAuthorization}).
 *
 * <p>Dependencies: none in the plugin (the bottom of the order config → lookup → studywrite →
 * ingest → dicomweb → status → org.dicomfhir.hapi).
 */
package org.dicomfhir.hapi.config;
