/**
 * {@code GET [base]/$dicom-status}: what the operator needs to know about stored instances that are
 * not (yet) listed by their ImagingStudy ({@link org.dicomfhir.hapi.status.DicomStatusProvider}).
 *
 * <p>Dependencies: {@code studywrite} (order: config → lookup → studywrite → access → ingest → dicomweb →
 * status → org.dicomfhir.hapi).
 */
package org.dicomfhir.hapi.status;
