/**
 * Everything after a DICOM Binary's transaction commits: the hand-off of its instances to the study
 * writer ({@link org.dicomfhir.hapi.studywrite.StudyWriteHandoff}, which also holds the node's SOP
 * Instance UID claims and the read barrier), the writer of ImagingStudy resources with group commit
 * ({@link org.dicomfhir.hapi.studywrite.StudyWriter}, scheduled by {@code StudyWriteQueue}), the
 * instance ledger the writer moves from PENDING to LISTED ({@link org.dicomfhir.hapi.studywrite.InstanceLedger}),
 * the FHIR Patient of a DICOM patient identity ({@link org.dicomfhir.hapi.studywrite.PatientDirectory}),
 * and the read barrier on the REST layer ({@link org.dicomfhir.hapi.studywrite.ReadYourWritesInterceptor}).
 *
 * <p>Dependencies: {@code config} only (order: config → lookup → studywrite → access → ingest → dicomweb →
 * status → org.dicomfhir.hapi). It knows nothing of how instances arrive.
 */
package org.dicomfhir.hapi.studywrite;
