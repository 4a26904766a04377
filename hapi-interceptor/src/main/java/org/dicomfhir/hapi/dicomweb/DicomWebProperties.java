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

	/**
	 * Largest single part (instance) a STOW-RS request may carry, in bytes (413 beyond). A part is
	 * held in memory while the request is stored (the Binary DAO takes a byte[]), so with the
	 * request cap below this keeps a server with {@code -Xmx1g} alive under a couple of concurrent
	 * STOW requests (docs/dicomweb.md, "Limits"). Raise it with the heap for large multi-frame objects.
	 */
	private long stowMaxPartBytes = 64L * 1024 * 1024;

	/**
	 * Largest STOW-RS request body, in bytes (413 beyond): a declared Content-Length above it is
	 * refused before the body is read; a chunked body is counted while it is read.
	 */
	private long stowMaxRequestBytes = 128L * 1024 * 1024;

	/** Most parts (instances) one STOW-RS request may carry (413 beyond). */
	private int stowMaxParts = 1000;

	/** Most frames one WADO-RS frames request may name, repeats included (400 beyond). */
	private int wadoMaxFrames = 1000;

	/**
	 * Cap on the inflated size of a deflated data set (Deflated Explicit VR Little Endian), which
	 * is inflated in memory on every frames and bulk data request of such an instance (422 beyond).
	 */
	private long maxInflatedBytes = 256L * 1024 * 1024;

	public long getStowMaxRequestBytes() {
		return stowMaxRequestBytes;
	}

	public void setStowMaxRequestBytes(long theStowMaxRequestBytes) {
		stowMaxRequestBytes = theStowMaxRequestBytes;
	}

	public int getStowMaxParts() {
		return stowMaxParts;
	}

	public void setStowMaxParts(int theStowMaxParts) {
		stowMaxParts = theStowMaxParts;
	}

	public int getWadoMaxFrames() {
		return wadoMaxFrames;
	}

	public void setWadoMaxFrames(int theWadoMaxFrames) {
		wadoMaxFrames = theWadoMaxFrames;
	}

	public long getMaxInflatedBytes() {
		return maxInflatedBytes;
	}

	public void setMaxInflatedBytes(long theMaxInflatedBytes) {
		maxInflatedBytes = theMaxInflatedBytes;
	}

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
