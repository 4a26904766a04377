package org.dicomfhir.hapi.dicomweb;

import org.springframework.boot.context.properties.ConfigurationProperties;

/** Settings of the DICOMweb facade, under {@code dicomfhir.dicomweb.*}. The path is {@code dicomfhir.dicomweb-path}. */
@ConfigurationProperties(prefix = "dicomfhir.dicomweb")
public class DicomWebProperties {

	/** Most results one QIDO response returns (a larger {@code limit} is cut to this, with a Warning). */
	private int qidoMaxResults = 1000;

	/**
	 * Most ImagingStudy resources one QIDO request loads from the database after narrowing. A query
	 * the database cannot narrow below this answers from the newest studies and says so in a
	 * {@code Warning: 299} header.
	 */
	private int qidoMaxCandidateStudies = 2000;

	/**
	 * Instances whose QIDO attribute values (read from their stored bytes) are kept in memory, about
	 * 1 KB each. QIDO reads an instance's Binary once; later queries use the kept values.
	 */
	private int qidoStoredAttributesCacheSize = 100_000;

	/**
	 * Memory for the DICOM JSON of recently served instances (WADO-RS metadata), in MiB; 0 turns
	 * the cache off. About 5–20 KB an instance: the default holds some 10,000 instances.
	 */
	private int metadataCacheMegabytes = 128;

	public int getMetadataCacheMegabytes() {
		return metadataCacheMegabytes;
	}

	public void setMetadataCacheMegabytes(int theMetadataCacheMegabytes) {
		metadataCacheMegabytes = theMetadataCacheMegabytes;
	}

	public int getQidoStoredAttributesCacheSize() {
		return qidoStoredAttributesCacheSize;
	}

	public void setQidoStoredAttributesCacheSize(int theQidoStoredAttributesCacheSize) {
		qidoStoredAttributesCacheSize = theQidoStoredAttributesCacheSize;
	}

	/** Largest single part (instance) a STOW-RS request may carry, in bytes. */
	private long stowMaxPartBytes = 1024L * 1024 * 1024;

	/** Largest part header block of a STOW-RS request, in bytes. */
	private int stowMaxHeaderBytes = 16 * 1024;

	/**
	 * Origins allowed to call the facade from a browser (CORS), e.g. {@code https://viewer.example.org};
	 * {@code *} allows any origin. Empty (the default): no CORS headers, browsers refuse cross-origin calls.
	 */
	private java.util.List<String> corsAllowedOrigins = new java.util.ArrayList<>();

	public java.util.List<String> getCorsAllowedOrigins() {
		return corsAllowedOrigins;
	}

	public void setCorsAllowedOrigins(java.util.List<String> theCorsAllowedOrigins) {
		corsAllowedOrigins = theCorsAllowedOrigins == null ? new java.util.ArrayList<>() : theCorsAllowedOrigins;
	}

	public int getQidoMaxResults() {
		return qidoMaxResults;
	}

	public void setQidoMaxResults(int theQidoMaxResults) {
		qidoMaxResults = theQidoMaxResults;
	}

	public int getQidoMaxCandidateStudies() {
		return qidoMaxCandidateStudies;
	}

	public void setQidoMaxCandidateStudies(int theQidoMaxCandidateStudies) {
		qidoMaxCandidateStudies = theQidoMaxCandidateStudies;
	}

	public long getStowMaxPartBytes() {
		return stowMaxPartBytes;
	}

	public void setStowMaxPartBytes(long theStowMaxPartBytes) {
		stowMaxPartBytes = theStowMaxPartBytes;
	}

	public int getStowMaxHeaderBytes() {
		return stowMaxHeaderBytes;
	}

	public void setStowMaxHeaderBytes(int theStowMaxHeaderBytes) {
		stowMaxHeaderBytes = theStowMaxHeaderBytes;
	}
}
