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
	 * Most stored instances one QIDO request reads to match a key, or return an
	 * {@code includefield}, that the ImagingStudy does not keep (e.g. Manufacturer, SliceLocation,
	 * {@code includefield=all}). Beyond it the answer is 400, naming the attribute and the keys
	 * that narrow the query: never a partial answer. Counted whether or not the values are cached,
	 * so the same query gets the same answer.
	 */
	private int qidoMaxInstanceReads = 2000;

	public int getQidoMaxInstanceReads() {
		return qidoMaxInstanceReads;
	}

	public void setQidoMaxInstanceReads(int theQidoMaxInstanceReads) {
		qidoMaxInstanceReads = theQidoMaxInstanceReads;
	}

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

	/**
	 * Instances listed by the parsed ImagingStudy resources kept in memory for WADO-RS, rendered and
	 * thumbnail requests (a few KB of heap each); 0 turns the cache off. A kept study is served only
	 * while the database still holds its version and the caller's rules allow it (docs/security.md,
	 * "The parsed-study cache").
	 */
	private int studyCacheInstances = 20_000;

	public int getStudyCacheInstances() {
		return studyCacheInstances;
	}

	public void setStudyCacheInstances(int theStudyCacheInstances) {
		studyCacheInstances = theStudyCacheInstances;
	}

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
	 * Largest part (instance) held in memory, in bytes (413 beyond). With spooling (the default:
	 * see {@link #stowSpoolThresholdBytes}) a larger part goes to disk instead and this limit only
	 * applies when no binary store is configured (then every part is in memory: the Binary DAO
	 * takes a byte[]). Also the limit of a single-part {@code application/dicom} body without spooling.
	 */
	private long stowMaxPartBytes = 64L * 1024 * 1024;

	/**
	 * Largest STOW-RS request body, in bytes (413 beyond): a declared Content-Length above it is
	 * refused before the body is read; a chunked body is counted while it is read. Parts above the
	 * spool threshold cost disk, not heap (up to twice their size while stored: the spooled copy and
	 * the binary store's), so this bounds a request's temporary disk use.
	 */
	private long stowMaxRequestBytes = 8L * 1024 * 1024 * 1024;

	/**
	 * A STOW-RS part larger than this many bytes is spooled to a temporary file while it is read
	 * (SHA-256 computed on the way), parsed from a memory map of that file and copied from it into
	 * the binary store: it never sits in the Java heap. Smaller parts stay in memory. Spooling
	 * needs HAPI's binary store (binary_storage_enabled); without one, every part is in memory.
	 */
	private long stowSpoolThresholdBytes = 16L * 1024 * 1024;

	/**
	 * Largest spooled part, in bytes (413 beyond). A part is parsed from one memory map, and Java
	 * maps at most 2 GiB - 1 bytes at once, so values above that are cut to it.
	 */
	private long stowMaxSpooledPartBytes = Integer.MAX_VALUE;

	/**
	 * Bytes of one STOW-RS request kept in memory, all parts together: once its in-memory parts
	 * reach this, its later parts are spooled whatever their size, so a request of many parts just
	 * under the threshold does not fill the heap either.
	 */
	private long stowMaxInMemoryRequestBytes = 128L * 1024 * 1024;

	public long getStowMaxInMemoryRequestBytes() {
		return stowMaxInMemoryRequestBytes;
	}

	public void setStowMaxInMemoryRequestBytes(long theStowMaxInMemoryRequestBytes) {
		stowMaxInMemoryRequestBytes = theStowMaxInMemoryRequestBytes;
	}

	/** Directory for spooled parts; empty: {@code java.io.tmpdir}. Files are deleted when their request ends. */
	private String stowSpoolDirectory = "";

	public long getStowSpoolThresholdBytes() {
		return stowSpoolThresholdBytes;
	}

	public void setStowSpoolThresholdBytes(long theStowSpoolThresholdBytes) {
		stowSpoolThresholdBytes = theStowSpoolThresholdBytes;
	}

	public long getStowMaxSpooledPartBytes() {
		return Math.min(stowMaxSpooledPartBytes, Integer.MAX_VALUE);
	}

	public void setStowMaxSpooledPartBytes(long theStowMaxSpooledPartBytes) {
		stowMaxSpooledPartBytes = theStowMaxSpooledPartBytes;
	}

	public String getStowSpoolDirectory() {
		return stowSpoolDirectory;
	}

	public void setStowSpoolDirectory(String theStowSpoolDirectory) {
		stowSpoolDirectory = theStowSpoolDirectory == null ? "" : theStowSpoolDirectory;
	}

	/** Most parts (instances) one STOW-RS request may carry (413 beyond). */
	private int stowMaxParts = 1000;

	/** Most frames one WADO-RS frames request may name, repeats included (400 beyond). */
	private int wadoMaxFrames = 1000;

	/**
	 * Cap on the inflated size of a deflated data set (Deflated Explicit VR Little Endian), which
	 * is inflated in memory on every frames and bulk data request of such an instance (422 beyond).
	 */
	private long maxInflatedBytes = 256L * 1024 * 1024;

	/** Most instances a study or series {@code /rendered} (a multipart of every instance) renders (413 beyond). */
	private int renderedMaxInstances = 100;

	/**
	 * Most bytes of images a study or series {@code /rendered} holds (413 beyond): they are
	 * rendered in memory before the first byte is sent, so that any refusal is a clean 4xx.
	 */
	private long renderedMaxBytes = 64L * 1024 * 1024;

	/**
	 * Memory for rendered images and thumbnails kept by (Binary SHA-256, frame, parameters, media
	 * type, core version), in bytes; 0 turns the cache off. Authorization and the Binary's read run
	 * before every use (docs/security.md, "The rendered-image cache"). A thumbnail is 2-5 KB.
	 */
	private long renderedCacheBytes = 64L * 1024 * 1024;

	public long getRenderedCacheBytes() {
		return renderedCacheBytes;
	}

	public void setRenderedCacheBytes(long theRenderedCacheBytes) {
		renderedCacheBytes = theRenderedCacheBytes;
	}

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

	public int getRenderedMaxInstances() {
		return renderedMaxInstances;
	}

	public void setRenderedMaxInstances(int theRenderedMaxInstances) {
		renderedMaxInstances = theRenderedMaxInstances;
	}

	public long getRenderedMaxBytes() {
		return renderedMaxBytes;
	}

	public void setRenderedMaxBytes(long theRenderedMaxBytes) {
		renderedMaxBytes = theRenderedMaxBytes;
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
