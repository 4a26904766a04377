package org.dicomfhir.hapi.config;

import org.springframework.boot.context.properties.ConfigurationProperties;

/** Operator settings, under {@code dicomfhir.*} in application.yaml. */
@ConfigurationProperties(prefix = "dicomfhir")
public class DicomFhirProperties {

	/** Path of the DICOMweb facade below the FHIR base; also the Endpoint address. */
	private String dicomwebPath = "dicomweb";

	/**
	 * The FHIR base URL clients reach this server at (e.g. https://pacs.example.org/fhir): the
	 * studies' DICOMweb Endpoint address is built from it. Unset: HAPI's configured server address
	 * (hapi.fhir.server_address); neither: no Endpoint. Request headers are never used.
	 */
	private String publicBaseUrl;

	/**
	 * Largest request body of a FHIR request (a Binary upload among them), in bytes: a larger one
	 * is refused with 413 before it is read. STOW-RS has its own limits (dicomfhir.dicomweb.*).
	 */
	private long maxUploadBytes = 256L * 1024 * 1024;

	/** Stored instances not yet listed this long after their last change are indexed again by the reconciler. */
	private int reconcileAfterSeconds = 300;

	public String getPublicBaseUrl() {
		return publicBaseUrl;
	}

	public void setPublicBaseUrl(String thePublicBaseUrl) {
		publicBaseUrl = thePublicBaseUrl;
	}

	public long getMaxUploadBytes() {
		return maxUploadBytes;
	}

	public void setMaxUploadBytes(long theMaxUploadBytes) {
		maxUploadBytes = theMaxUploadBytes;
	}

	public int getReconcileAfterSeconds() {
		return reconcileAfterSeconds;
	}

	public void setReconcileAfterSeconds(int theReconcileAfterSeconds) {
		reconcileAfterSeconds = theReconcileAfterSeconds;
	}

	/** Identifier system for PatientID when the instance has no IssuerOfPatientID. */
	private String patientIdentifierSystem = "urn:dicom:patient-id";

	/** UTC offset (e.g. "+01:00") for DICOM dates and times that carry none; unset = date only. */
	private String defaultTimezone;
	/**
	 * Tags indexed for QIDO beyond the core's defaults (keywords or 8 hex digits): a query on one
	 * of them narrows in the database (docs/dicomweb.md, "The attribute index"). Instances stored
	 * before a tag was added are still found (read, as without the index); no reindex job.
	 */
	private java.util.List<String> qidoIndexedTags = new java.util.ArrayList<>();

	/** Threads writing ImagingStudy resources (different studies are written in parallel). */
	private int studyWriterThreads = 4;

	/**
	 * How long a synchronous upload, or a read waiting for deferred writes, waits for ImagingStudy
	 * writes (seconds).
	 */
	private int studyWriteTimeoutSeconds = 120;

	/** Retries of one study write after a version conflict with another writer or node. */
	private int studyWriteMaxRetries = 50;

	/**
	 * When an upload answers. {@code deferred}: once its Binary is committed; the ImagingStudy write
	 * follows and any other request on this node first waits for it (read-your-writes per node,
	 * study writes coalesced: linear cost). {@code synchronous}: only after its ImagingStudy write
	 * (read-your-writes on every node, but one study write per sequential upload).
	 */
	private StudyWriteMode studyWriteMode = StudyWriteMode.DEFERRED;

	/**
	 * Deferred mode: the longest a study's next write waits for more instances (ms). It goes
	 * earlier once the study received nothing for half of that, or when a reader on this node waits.
	 */
	private int studyWriteLingerMillis = 1000;

	public enum StudyWriteMode {
		DEFERRED,
		SYNCHRONOUS
	}

	public StudyWriteMode getStudyWriteMode() {
		return studyWriteMode;
	}

	public void setStudyWriteMode(StudyWriteMode theStudyWriteMode) {
		studyWriteMode = theStudyWriteMode;
	}

	public boolean isDeferredStudyWrites() {
		return studyWriteMode == StudyWriteMode.DEFERRED;
	}

	public int getStudyWriteLingerMillis() {
		return studyWriteLingerMillis;
	}

	public void setStudyWriteLingerMillis(int theStudyWriteLingerMillis) {
		studyWriteLingerMillis = theStudyWriteLingerMillis;
	}

	/**
	 * An instance whose SOP Instance UID is already stored with different bytes is rejected (409)
	 * unless this is true; then the new bytes replace it in the ImagingStudy (the old Binary stays).
	 */
	private boolean replaceInstances = false;

	public boolean isReplaceInstances() {
		return replaceInstances;
	}

	public void setReplaceInstances(boolean theReplaceInstances) {
		replaceInstances = theReplaceInstances;
	}

	/** Names this node in logs; nodes sharing a database should have distinct ids. */
	private String nodeId = defaultNodeId();

	/** How often the reconciler looks for instances not yet listed (and failed ones) and indexes them again. */
	private int reconcileIntervalSeconds = 60;

	private static String defaultNodeId() {
		try {
			return java.net.InetAddress.getLocalHost().getHostName().replaceAll("[^A-Za-z0-9.-]", "-");
		} catch (java.io.IOException e) {
			return "node";
		}
	}

	public String getNodeId() {
		return nodeId;
	}

	public void setNodeId(String theNodeId) {
		nodeId = theNodeId;
	}

	public int getReconcileIntervalSeconds() {
		return reconcileIntervalSeconds;
	}

	public void setReconcileIntervalSeconds(int theReconcileIntervalSeconds) {
		reconcileIntervalSeconds = theReconcileIntervalSeconds;
	}

	public String getDicomwebPath() {
		return dicomwebPath;
	}

	public void setDicomwebPath(String theDicomwebPath) {
		dicomwebPath = theDicomwebPath;
	}

	public String getPatientIdentifierSystem() {
		return patientIdentifierSystem;
	}

	public void setPatientIdentifierSystem(String thePatientIdentifierSystem) {
		patientIdentifierSystem = thePatientIdentifierSystem;
	}

	public String getDefaultTimezone() {
		return defaultTimezone;
	}

	public void setDefaultTimezone(String theDefaultTimezone) {
		defaultTimezone = theDefaultTimezone;
	}

	public int getStudyWriterThreads() {
		return studyWriterThreads;
	}

	public void setStudyWriterThreads(int theStudyWriterThreads) {
		studyWriterThreads = theStudyWriterThreads;
	}

	public int getStudyWriteTimeoutSeconds() {
		return studyWriteTimeoutSeconds;
	}

	public void setStudyWriteTimeoutSeconds(int theStudyWriteTimeoutSeconds) {
		studyWriteTimeoutSeconds = theStudyWriteTimeoutSeconds;
	}

	public int getStudyWriteMaxRetries() {
		return studyWriteMaxRetries;
	}

	public void setStudyWriteMaxRetries(int theStudyWriteMaxRetries) {
		studyWriteMaxRetries = theStudyWriteMaxRetries;
	}

	public java.util.List<String> getQidoIndexedTags() {
		return qidoIndexedTags;
	}

	public void setQidoIndexedTags(java.util.List<String> theQidoIndexedTags) {
		qidoIndexedTags = theQidoIndexedTags == null ? new java.util.ArrayList<>() : theQidoIndexedTags;
	}
}
