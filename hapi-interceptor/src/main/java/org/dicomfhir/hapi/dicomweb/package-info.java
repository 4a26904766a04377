/**
 * The DICOMweb facade below the FHIR base (QIDO-RS, WADO-RS, WADO-URI, STOW-RS, delete): routing
 * ({@link org.dicomfhir.hapi.dicomweb.DicomWebInterceptor}), its services, the streaming multipart
 * reader and its spool, and its own Spring configuration and registrar (imported by
 * {@code org.dicomfhir.hapi.DicomFhirConfiguration}). See docs/dicomweb.md.
 *
 * <p>Dependencies: {@code config}, {@code lookup}, {@code studywrite}, {@code access}, {@code ingest} (STOW-RS
 * stores through the same storage hooks as a FHIR upload). Order: config → lookup → studywrite →
 * ingest → dicomweb → status → org.dicomfhir.hapi; nothing here uses {@code org.dicomfhir.hapi} itself.
 */
package org.dicomfhir.hapi.dicomweb;
