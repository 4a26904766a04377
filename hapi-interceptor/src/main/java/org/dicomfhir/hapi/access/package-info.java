/**
 * Who may read and change a DICOM instance. A DICOM Binary belongs to its patient through its
 * ImagingStudy ({@code Binary.securityContext}, or the instance ledger for Binaries stored before
 * it was set). {@link org.dicomfhir.hapi.access.StudyAccess} asks the operator's
 * AuthorizationInterceptors (whatever rules they build, SMART scopes included) about that study;
 * {@link org.dicomfhir.hapi.access.DicomBinaryAccessInterceptor} applies the answer to every
 * direct FHIR access to a DICOM Binary. Ingest and the DICOMweb facade call
 * {@link org.dicomfhir.hapi.access.StudyAccess} before they parse, look up or claim anything.
 *
 * <p>Dependencies: {@code config}, {@code lookup}, {@code studywrite} (order: config → lookup →
 * studywrite → access → ingest → dicomweb → status → org.dicomfhir.hapi).
 */
package org.dicomfhir.hapi.access;
