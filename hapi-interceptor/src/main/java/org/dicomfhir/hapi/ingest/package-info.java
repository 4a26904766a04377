/**
 * The way DICOM instances come in as Binaries: the REST rewrite of a DICOM {@code POST /Binary}
 * into {@code PUT /Binary/<sha256>} ({@link org.dicomfhir.hapi.ingest.DicomBinaryUploadInterceptor}),
 * the storage hooks that parse, check and record every DICOM Binary in its transaction and hand it
 * to {@code studywrite} ({@link org.dicomfhir.hapi.ingest.DicomStorageInterceptor}), the request
 * size limit, content addressing ({@code DicomBinaries}, {@code BinaryBytes}), and the reconciler
 * that hands stored but unlisted instances to the study writer again
 * ({@link org.dicomfhir.hapi.ingest.StudyIndexReconciler}: it re-reads and re-parses Binaries as
 * the storage hook does, so it lives here, above the writer).
 *
 * <p>Dependencies: {@code config}, {@code lookup}, {@code studywrite}, {@code access} (order: config →
 * lookup → studywrite → access → ingest → dicomweb → status → org.dicomfhir.hapi).
 */
package org.dicomfhir.hapi.ingest;
