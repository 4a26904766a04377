/**
 * The dicom-fhir plugin for a HAPI FHIR JPA server: its entry point and start-up.
 *
 * <p>{@link org.dicomfhir.hapi.DicomFhirConfiguration} is the class the HAPI starter finds through
 * {@code hapi.fhir.custom-bean-packages: org.dicomfhir.hapi} (docs/operators.md names it; it keeps
 * this fully qualified name). It creates every bean of the plugin and imports the DICOMweb facade's
 * configuration. {@link org.dicomfhir.hapi.PluginRegistrar} registers the hooks on HAPI before the
 * web server takes requests, and {@link org.dicomfhir.hapi.ConformanceResources} publishes the
 * plugin's StructureDefinitions and SearchParameters once the context is refreshed.
 *
 * <p>Package dependencies point one way (each package uses only those before it):
 * <ol>
 *   <li>{@code config}: what the operator configured ({@code dicomfhir.*}) and values derived from it</li>
 *   <li>{@code lookup}: native SQL lookups on HAPI's tables</li>
 *   <li>{@code smart}: SMART on FHIR bearer tokens and scopes, off by default (uses config; only the
 *       root wiring uses it)</li>
 *   <li>{@code studywrite}: after a Binary's commit: hand-off, the study writer, the instance ledger,
 *       patients, the read barrier (uses config)</li>
 *   <li>{@code access}: who may read and change an instance: the caller's rights on its
 *       ImagingStudy, the owner check on DICOM Binaries (uses studywrite)</li>
 *   <li>{@code ingest}: the way in: upload rewrite, storage hooks, request size limit, content
 *       addressing, reconciliation (uses config, lookup, studywrite, access)</li>
 *   <li>{@code dicomweb}: the DICOMweb facade (uses config, lookup, studywrite, access, ingest)</li>
 *   <li>{@code status}: {@code $dicom-status} (uses studywrite)</li>
 *   <li>this package: the wiring (uses all of them; nothing uses it)</li>
 * </ol>
 */
package org.dicomfhir.hapi;
