/**
 * Lookups answered by one native SQL query on HAPI's own tables, where HAPI's generic path costs far
 * more than the question: whether an upload's {@code Binary/<sha256>} was ever stored
 * ({@link org.dicomfhir.hapi.lookup.UploadLookup}) and the persistent ids of many Binary ids at once
 * ({@link org.dicomfhir.hapi.lookup.BinaryIdLookup}), and the current version of an ImagingStudy
 * ({@link org.dicomfhir.hapi.lookup.StudyVersionLookup}). Each falls back to "unavailable" (the caller
 * takes HAPI's path) with partitioning or another schema. Read-only; the plugin's own table is the
 * instance ledger in {@code studywrite}.
 *
 * <p>Dependencies: none in the plugin (order: config → lookup → studywrite → access → ingest → dicomweb →
 * status → org.dicomfhir.hapi).
 */
package org.dicomfhir.hapi.lookup;
