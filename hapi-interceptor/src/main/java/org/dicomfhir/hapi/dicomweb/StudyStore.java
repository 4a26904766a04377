package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.SortOrderEnum;
import ca.uhn.fhir.rest.api.SortSpec;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.IBundleProvider;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.param.TokenOrListParam;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.util.HapiExtensions;
import org.apache.commons.io.output.CloseShieldOutputStream;
import org.dicomfhir.bridge.CoreConstants;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.lookup.StudyVersionLookup;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.UnsignedIntType;
import org.springframework.beans.factory.ObjectProvider;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads what the facade serves from the FHIR store: ImagingStudy (by Study Instance UID), Patient,
 * and the DICOM Binaries. Every read goes through a DAO with the caller's RequestDetails, so HAPI's
 * storage-level hooks (AuthorizationInterceptor, consent, partitioning) apply to DICOMweb as to FHIR.
 */
public class StudyStore {

	static final String UID_SYSTEM = "urn:dicom:uid";
	// the extension URLs are the core's (rust/core/src/study_ext.rs), read through the bridge
	static final String INSTANCE_BINARY = CoreConstants.EXT_INSTANCE_BINARY;
	static final String INSTANCE_ATTRIBUTES = CoreConstants.EXT_INSTANCE_ATTRIBUTES;
	/** On the ImagingStudy and each series: the DICOM values of the QIDO attributes (rust/core study_ext.rs). */
	static final String DICOM_ATTRIBUTES = CoreConstants.EXT_DICOM_ATTRIBUTES;

	/** One stored instance as the ImagingStudy lists it. */
	public record InstanceRef(String studyUid, String seriesUid, String sopInstanceUid, String sopClassUid,
			String binaryId, String transferSyntaxUid, Long size) {}

	private final DaoRegistry myDaoRegistry;
	private final ObjectProvider<IBinaryStorageSvc> myBinaryStorage;
	private volatile BlobFiles myBlobFiles;
	private volatile boolean myBlobFilesResolved;
	/** Parsed studies served without HAPI's read once the database says they are current (null: off). */
	private final StudyReadCache myReadCache;
	private final StudyVersionLookup myVersions;
	private final StudyAccess myAccess;
	private final java.util.concurrent.atomic.AtomicLong myCachedReads = new java.util.concurrent.atomic.AtomicLong();
	private final java.util.concurrent.atomic.AtomicLong myCachedSearches = new java.util.concurrent.atomic.AtomicLong();

	public StudyStore(DaoRegistry theDaoRegistry, ObjectProvider<IBinaryStorageSvc> theBinaryStorage) {
		this(theDaoRegistry, theBinaryStorage, null, null, null);
	}

	public StudyStore(DaoRegistry theDaoRegistry, ObjectProvider<IBinaryStorageSvc> theBinaryStorage, StudyReadCache theReadCache,
			StudyVersionLookup theVersions, StudyAccess theAccess) {
		myDaoRegistry = theDaoRegistry;
		myBinaryStorage = theBinaryStorage;
		boolean usable = theReadCache != null && theReadCache.enabled() && theVersions != null && theAccess != null;
		myReadCache = usable ? theReadCache : null;
		myVersions = theVersions;
		myAccess = theAccess;
	}

	static TokenParam studyIdentifier(String theStudyUid) {
		return new TokenParam(UID_SYSTEM, "urn:oid:" + theStudyUid);
	}

	/**
	 * Up to {@code theMax} ImagingStudy resources matching the map (synchronous search), read as a
	 * search of the caller: every resource returned passes STORAGE_PRESHOW_RESOURCES, where
	 * AuthorizationInterceptor refuses (403) a study outside the caller's compartments.
	 */
	List<ImagingStudy> search(SearchParameterMap theMap, RequestDetails theRequest, int theMax) {
		List<ImagingStudy> out = new ArrayList<>();
		for (IBaseResource r : searchAll(ImagingStudy.class, theMap, theRequest, theMax)) {
			if (r instanceof ImagingStudy study) {
				out.add(study);
			}
		}
		return out;
	}

	/**
	 * As {@link #search}, for a search whose studies are only shown (QIDO's candidates, bounded by
	 * the attribute index): may answer from the parsed-study cache what HAPI's search would have
	 * returned ({@link #searchCached}); otherwise HAPI's search runs and its studies are kept for the
	 * next request.
	 */
	List<ImagingStudy> searchToShow(SearchParameterMap theMap, RequestDetails theRequest, int theMax) {
		List<ImagingStudy> cached = searchCached(theMap, theRequest, theMax);
		if (cached != null) {
			return cached;
		}
		List<ImagingStudy> found = search(theMap, theRequest, theMax);
		found.forEach(this::keep);
		return found;
	}

	/**
	 * The studies of HAPI's search, from the parsed-study cache, when that is provably what the search
	 * would return to this caller now; null otherwise (then HAPI's search runs, with its own answers).
	 * Which resources match is still HAPI's: its search for ids runs with the same parameters (the
	 * caller's narrowing included) and RequestDetails, and fires the same pre-search and partition
	 * hooks. What it skips is loading and parsing them, so each found id must have its row current,
	 * not deleted, untagged and kept at that version, and the hooks that loading would fire
	 * (STORAGE_PREACCESS_RESOURCES, STORAGE_PRESHOW_RESOURCES) must be ones
	 * {@link StudyAccess#showsWithoutDao} evaluates, and allow, for every study (a refusal takes
	 * HAPI's path, so the caller gets HAPI's own 403).
	 */
	List<ImagingStudy> searchCached(SearchParameterMap theMap, RequestDetails theRequest, int theMax) {
		if (myReadCache == null || !myAccess.evaluatesEveryShowHook(theRequest)) {
			return null;
		}
		return asRead(theRequest, () -> {
			SearchParameterMap map = theMap.clone();
			map.setLoadSynchronous(true);
			List<ca.uhn.fhir.rest.api.server.storage.IResourcePersistentId<?>> pids =
					myDaoRegistry.getResourceDao(ImagingStudy.class).searchForIds(map, theRequest);
			if (pids.size() > theMax) {
				return null;
			}
			List<Long> ids = new ArrayList<>();
			for (var pid : pids) {
				if (!(pid.getId() instanceof Number n)) {
					return null;
				}
				ids.add(n.longValue());
			}
			Map<Long, StudyVersionLookup.Row> rows = ids.isEmpty() ? Map.of() : myVersions.byResourceIds(ids);
			if (rows == null) {
				return null;
			}
			List<ImagingStudy> out = new ArrayList<>();
			for (Long id : ids) {
				StudyVersionLookup.Row row = rows.get(id);
				if (row == null || row.current().deleted() || row.current().tagged()) {
					return null;
				}
				ImagingStudy kept = myReadCache.get(row.id(), row.current().version());
				if (kept == null || !myAccess.showsWithoutDao(theRequest, kept)) {
					return null;
				}
				out.add(kept);
			}
			myCachedSearches.incrementAndGet();
			return out;
		});
	}

	/**
	 * Keeps a study HAPI returned for the parsed-study cache (when there is one), under its id: only
	 * one the plugin wrote (its id is the Study Instance UID it carries).
	 */
	private void keep(ImagingStudy theStudy) {
		String id = theStudy.getIdElement().getIdPart();
		if (myReadCache != null && id != null && PLUGIN_STUDY_ID.matcher(id).matches()
				&& theStudy.getIdElement().isVersionIdPartValidLong() && carriesUid(theStudy, id)) {
			myReadCache.put(id, theStudy.getIdElement().getVersionIdPartAsLong(), theStudy);
		}
	}

	/** Whether the study's identifiers include Study Instance UID {@code theUid}. */
	private static boolean carriesUid(ImagingStudy theStudy, String theUid) {
		String uid = "urn:oid:" + theUid;
		return theStudy.getIdentifier().stream().anyMatch(i -> UID_SYSTEM.equals(i.getSystem()) && uid.equals(i.getValue()));
	}

	/**
	 * Up to {@code theMax} resources of a synchronous DAO search with the caller's RequestDetails,
	 * externalized content not inflated.
	 * The DAO sizes such a search from the request, as for a FHIR search: {@code _count} or the
	 * server's default page size (20), at most its maximum page size. So the pages are asked for
	 * explicitly ({@code _count}/{@code _offset} set on the RequestDetails for each call, then
	 * restored); pages are sorted (by the map's sort, else by {@code _id}) so that they are disjoint.
	 */
	<T extends IBaseResource> List<IBaseResource> searchAll(Class<T> theType, SearchParameterMap theMap, RequestDetails theRequest,
			int theMax) {
		int page = theMax;
		Integer maxPage = theRequest.getServer() == null ? null : theRequest.getServer().getMaximumPageSize();
		if (maxPage != null && maxPage > 0) {
			page = Math.min(page, maxPage);
		}
		int pageSize = Math.max(1, page);
		return asRead(theRequest, () -> withoutInflating(theRequest, () -> {
			Map<String, String[]> saved = theRequest.getParameters();
			List<IBaseResource> out = new ArrayList<>();
			SearchParameterMap base = theMap.clone();
			try {
				for (int offset = 0; out.size() < theMax; offset += pageSize) {
					Map<String, String[]> params = new HashMap<>(saved);
					params.put("_count", new String[] {Integer.toString(pageSize)});
					params.put("_offset", new String[] {Integer.toString(offset)});
					theRequest.setParameters(params);
					SearchParameterMap map = base.clone();
					map.setLoadSynchronous(true);
					List<IBaseResource> found = myDaoRegistry.getResourceDao(theType).search(map, theRequest).getResources(0, pageSize);
					if (offset == 0 && found.size() == pageSize && theMax > pageSize && base.getSort() == null) {
						// more than one page: the pages of an unsorted search need not be disjoint,
						// so page by _id (cheap: no index join) from the start
						base.setSort(new SortSpec("_id", SortOrderEnum.ASC));
						offset = -pageSize;
						continue;
					}
					out.addAll(found.subList(0, Math.min(found.size(), theMax - out.size())));
					if (found.size() < pageSize) {
						break;
					}
				}
			} finally {
				theRequest.setParameters(saved);
			}
			return out;
		}));
	}

	/**
	 * Runs a lookup with the request marked as a read of ImagingStudy. AuthorizationInterceptor
	 * checks returned resources only for operations that return resources (not for UPDATE or
	 * DELETE), so STOW and DELETE look their target study up this way: a study the caller may not
	 * read is then refused before anything is written or deleted. A read, not a search: looking up
	 * the one study a request names by UID is what a read by id does (SMART {@code r}, not {@code s}).
	 * QIDO (a search) and WADO (a read) keep their own operation.
	 */
	static <T> T asRead(RequestDetails theRequest, java.util.function.Supplier<T> theRead) {
		RestOperationTypeEnum operation = theRequest.getRestOperationType();
		String resourceName = theRequest.getResourceName();
		if (operation == RestOperationTypeEnum.SEARCH_TYPE || operation == RestOperationTypeEnum.READ) {
			return theRead.get();
		}
		theRequest.setRestOperationType(RestOperationTypeEnum.READ);
		theRequest.setResourceName("ImagingStudy");
		try {
			return theRead.get();
		} finally {
			theRequest.setRestOperationType(operation);
			theRequest.setResourceName(resourceName);
		}
	}

	/**
	 * The ImagingStudy of a Study Instance UID; 404 when there is none (or the caller may not see
	 * it). Read by id first: the plugin writes each study under its Study Instance UID, and a read
	 * by id costs HAPI a fraction of a search (the search was a quarter of a rendered request's
	 * samples). Both run as the caller's read of ImagingStudy, with the same authorization; a study
	 * a client stored under another id is still found by the identifier search.
	 */
	ImagingStudy study(String theStudyUid, RequestDetails theRequest) {
		return study(theStudyUid, theRequest, false);
	}

	/**
	 * As {@link #study(String, RequestDetails)}, for a request that only shows the study (WADO-RS,
	 * rendered, frames): may answer from the parsed-study cache, as a DAO read would have answered.
	 */
	ImagingStudy studyToShow(String theStudyUid, RequestDetails theRequest) {
		return study(theStudyUid, theRequest, true);
	}

	private ImagingStudy study(String theStudyUid, RequestDetails theRequest, boolean theCached) {
		ImagingStudy found = theCached ? cached(theStudyUid, theRequest) : null;
		if (found == null) {
			found = byId(theStudyUid, theRequest, theCached);
		}
		if (found == null) {
			SearchParameterMap map = SearchParameterMap.newSynchronous(ImagingStudy.SP_IDENTIFIER, studyIdentifier(theStudyUid));
			List<ImagingStudy> searched = search(map, theRequest, 2);
			if (searched.isEmpty()) {
				throw DicomWebException.notFound("Study " + theStudyUid + " not found");
			}
			found = searched.get(0);
		}
		StudyAccess.rememberStudy(theRequest, found); // its Binaries' access checks need not read it again
		return found;
	}

	/** A Study Instance UID the plugin can have used as an ImagingStudy id (compiled once: every WADO request asks). */
	private static final java.util.regex.Pattern PLUGIN_STUDY_ID = java.util.regex.Pattern.compile("[0-9.]{1,64}");

	/** {@code ImagingStudy/<uid>} when it exists and carries that Study Instance UID; null otherwise. */
	private ImagingStudy byId(String theStudyUid, RequestDetails theRequest, boolean theKeep) {
		if (!PLUGIN_STUDY_ID.matcher(theStudyUid).matches()) {
			return null; // not a UID the plugin would have used as an id: the search decides
		}
		try {
			ImagingStudy study = asRead(theRequest, () -> withoutInflating(theRequest,
					() -> myDaoRegistry.getResourceDao(ImagingStudy.class).read(new IdType("ImagingStudy", theStudyUid), theRequest)));
			if (theKeep) {
				keep(study);
			}
			return carriesUid(study, theStudyUid) ? study : null;
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	/**
	 * The study from the parsed-study cache, when that is provably what HAPI's read by id would
	 * return to this caller now: the database's current row of {@code ImagingStudy/<uid>} (one
	 * indexed query, after the read-your-writes barrier every facade request passes first) is the
	 * kept version, not deleted and without tags (a tag or security label can change without a new
	 * version), and {@link StudyAccess#showsWithoutDao} says every hook of that read is one whose
	 * verdict it evaluates, and allows. Null otherwise: then HAPI's read runs, with its own answers
	 * (403, 404, 410, a consent service's). The study's instances' Binaries are still read, and
	 * checked, through HAPI.
	 */
	private ImagingStudy cached(String theStudyUid, RequestDetails theRequest) {
		if (myReadCache == null || !PLUGIN_STUDY_ID.matcher(theStudyUid).matches()) {
			return null;
		}
		StudyVersionLookup.Current current = myVersions.current(theStudyUid);
		if (current == null || current.deleted() || current.tagged()) {
			return null;
		}
		ImagingStudy kept = myReadCache.get(theStudyUid, current.version());
		if (kept == null) {
			return null;
		}
		if (!asRead(theRequest, () -> myAccess.showsWithoutDao(theRequest, kept))) {
			return null;
		}
		myCachedReads.incrementAndGet();
		return kept;
	}

	/** How many study reads the parsed-study cache has answered since start (tests, diagnostics). */
	public long cachedStudyReads() {
		return myCachedReads.get();
	}

	/** How many study searches (QIDO's candidates) the parsed-study cache has answered since start (tests, diagnostics). */
	public long cachedStudySearches() {
		return myCachedSearches.get();
	}

	/** Patients referenced by the studies' subjects, read in one search per 100 ids. */
	Map<String, Patient> patients(List<ImagingStudy> theStudies, RequestDetails theRequest) {
		Set<String> ids = new LinkedHashSet<>();
		for (ImagingStudy study : theStudies) {
			Reference subject = study.getSubject();
			if (subject.getReferenceElement().hasIdPart() && "Patient".equals(subject.getReferenceElement().getResourceType())) {
				ids.add(subject.getReferenceElement().getIdPart());
			}
		}
		Map<String, Patient> out = new HashMap<>();
		List<String> all = new ArrayList<>(ids);
		for (int i = 0; i < all.size(); i += 100) {
			TokenOrListParam idList = new TokenOrListParam();
			all.subList(i, Math.min(all.size(), i + 100)).forEach(id -> idList.addOr(new TokenParam(id)));
			SearchParameterMap map = SearchParameterMap.newSynchronous();
			map.add("_id", idList);
			for (IBaseResource r : searchAll(Patient.class, map, theRequest, 100)) {
				out.put(r.getIdElement().getIdPart(), (Patient) r);
			}
		}
		return out;
	}

	/** Instances of the study, optionally of one series / one instance; 404 when that selects nothing. */
	static List<InstanceRef> instances(ImagingStudy theStudy, String theStudyUid, String theSeriesUid, String theSopUid) {
		List<InstanceRef> out = new ArrayList<>();
		for (ImagingStudy.ImagingStudySeriesComponent series : theStudy.getSeries()) {
			if (theSeriesUid != null && !theSeriesUid.equals(series.getUid())) {
				continue;
			}
			for (ImagingStudy.ImagingStudySeriesInstanceComponent instance : series.getInstance()) {
				if (theSopUid != null && !theSopUid.equals(instance.getUid())) {
					continue;
				}
				Extension binary = instance.getExtensionByUrl(INSTANCE_BINARY);
				if (binary == null || !(binary.getValue() instanceof Reference ref) || !ref.getReferenceElement().hasIdPart()) {
					continue; // listed by someone else, not backed by a DICOM Binary
				}
				String ts = null;
				Long size = null;
				Extension attrs = instance.getExtensionByUrl(INSTANCE_ATTRIBUTES);
				if (attrs != null) {
					Extension tsExt = attrs.getExtensionByUrl("transferSyntax");
					if (tsExt != null && tsExt.getValue() != null) {
						ts = stripOid(tsExt.getValue().primitiveValue());
					}
					Extension sizeExt = attrs.getExtensionByUrl("size");
					if (sizeExt != null && sizeExt.getValue() instanceof UnsignedIntType u && u.getValue() != null) {
						size = u.getValue().longValue();
					}
				}
				String sopClass = instance.getSopClass().getCode() == null ? null : stripOid(instance.getSopClass().getCode());
				out.add(new InstanceRef(theStudyUid, series.getUid(), instance.getUid(), sopClass,
						ref.getReferenceElement().getIdPart(), ts, size));
			}
		}
		if (out.isEmpty()) {
			if (theSopUid != null) {
				throw DicomWebException.notFound("Instance " + theSopUid + " not found in series " + theSeriesUid + " of study " + theStudyUid);
			}
			throw DicomWebException.notFound("Series " + theSeriesUid + " not found in study " + theStudyUid);
		}
		return out;
	}

	/** The Binary id (SHA-256) an ImagingStudy instance points to; null when it has none. */
	static String binaryId(ImagingStudy.ImagingStudySeriesInstanceComponent theInstance) {
		Extension binary = theInstance.getExtensionByUrl(INSTANCE_BINARY);
		if (binary == null || !(binary.getValue() instanceof Reference ref) || !ref.getReferenceElement().hasIdPart()) {
			return null;
		}
		return ref.getReferenceElement().getIdPart();
	}

	static String stripOid(String theValue) {
		return theValue != null && theValue.startsWith("urn:oid:") ? theValue.substring(8) : theValue;
	}

	/** Binaries by id, 100 per search, with the caller's RequestDetails, without inflating externalized content. */
	List<Binary> binaries(java.util.Collection<String> theIds, RequestDetails theRequest) {
		List<String> ids = new ArrayList<>(theIds);
		List<Binary> out = new ArrayList<>();
		for (int i = 0; i < ids.size(); i += 100) {
			TokenOrListParam idList = new TokenOrListParam();
			ids.subList(i, Math.min(ids.size(), i + 100)).forEach(id -> idList.addOr(new TokenParam(id)));
			SearchParameterMap map = SearchParameterMap.newSynchronous();
			map.add("_id", idList);
			for (IBaseResource r : searchAll(Binary.class, map, theRequest, 100)) {
				out.add((Binary) r);
			}
		}
		return out;
	}

	/**
	 * The Binaries of the instances, in their order, read in searches of 100 ids (one read each
	 * costs a round trip and a resource load: 72% of a 1,000-instance metadata request); null for
	 * an instance whose Binary is gone (the caller decides: a study is served without it). The
	 * caller's authorization applies to each, as to a read.
	 */
	List<Binary> binariesOrNull(List<InstanceRef> theRefs, RequestDetails theRequest) {
		if (theRefs.size() == 1) {
			try {
				return java.util.Collections.singletonList(binary(theRefs.get(0).binaryId(), theRequest));
			} catch (DicomWebException e) {
				if (e.status() == 404) {
					return java.util.Collections.singletonList(null);
				}
				throw e;
			}
		}
		Map<String, Binary> byId = new HashMap<>();
		for (Binary b : binaries(new LinkedHashSet<>(theRefs.stream().map(InstanceRef::binaryId).toList()), theRequest)) {
			byId.put(b.getIdElement().getIdPart(), b);
		}
		List<Binary> out = new ArrayList<>(theRefs.size());
		for (InstanceRef ref : theRefs) {
			out.add(byId.get(ref.binaryId()));
		}
		return out;
	}

	/**
	 * Whether the Binary's bytes can be read: inline data, or a blob the binary store still holds
	 * (the file itself on HAPI's filesystem store, whose descriptor outlives a deleted blob file).
	 */
	boolean readable(Binary theBinary) {
		if (theBinary.getData() != null) {
			return true;
		}
		String blobId = externalizedId(theBinary);
		IBinaryStorageSvc storage = myBinaryStorage.getIfAvailable();
		if (blobId == null || storage == null) {
			return false;
		}
		BlobFiles files = blobFiles();
		if (files != null) {
			return files.file(theBinary.getIdElement().toVersionless(), blobId) != null;
		}
		try {
			return storage.fetchBinaryContentDetails(theBinary.getIdElement().toVersionless(), blobId) != null;
		} catch (IOException | RuntimeException e) {
			return false;
		}
	}

	/** Reads the Binary with the caller's RequestDetails, without inflating externalized content. */
	Binary binary(String theId, RequestDetails theRequest) {
		try {
			return withoutInflating(theRequest, () -> myDaoRegistry.getResourceDao(Binary.class).read(new IdType("Binary", theId), theRequest));
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			throw new DicomWebException(404, "The bytes of this instance (Binary/" + theId + ") are gone");
		}
	}

	/**
	 * Runs a read with HAPI's BinaryStorageInterceptor told not to inflate externalized content.
	 * The facade streams Binaries from the blob store itself, and an ImagingStudy or Patient holds
	 * nothing it needs inflated; without this, that interceptor walks every element of every
	 * resource shown (a fifth of a QIDO request).
	 */
	private static <T> T withoutInflating(RequestDetails theRequest, java.util.function.Supplier<T> theRead) {
		Object previous = theRequest.getUserData().put(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY, Boolean.FALSE);
		try {
			return theRead.get();
		} finally {
			if (previous == null) {
				theRequest.getUserData().remove(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY);
			} else {
				theRequest.getUserData().put(BinaryStorageInterceptor.AUTO_INFLATE_BINARY_CONTENT_KEY, previous);
			}
		}
	}

	/** Streams the Binary's bytes (inline or from the external binary store) without closing the stream. */
	void write(Binary theBinary, OutputStream theOut) throws IOException {
		if (theBinary.getData() != null) {
			theOut.write(theBinary.getData());
			return;
		}
		String blobId = externalizedId(theBinary);
		IBinaryStorageSvc storage = myBinaryStorage.getIfAvailable();
		if (blobId == null || storage == null) {
			throw new DicomWebException(404, "Binary/" + theBinary.getIdElement().getIdPart() + " holds no bytes");
		}
		// HAPI 8.8's FilesystemBinaryStorageSvcImpl.writeBinaryContent returns false even when it wrote
		// the content (and closes the stream: hence the shield), so existence is checked first.
		if (storage.fetchBinaryContentDetails(theBinary.getIdElement().toVersionless(), blobId) == null) {
			throw new DicomWebException(404, "The bytes of Binary/" + theBinary.getIdElement().getIdPart() + " are missing from the binary store");
		}
		storage.writeBinaryContent(theBinary.getIdElement().toVersionless(), blobId, CloseShieldOutputStream.wrap(theOut));
	}

	/** The whole content of the Binary in memory (for parsing). */
	byte[] bytes(Binary theBinary) throws IOException {
		if (theBinary.getData() != null) {
			return theBinary.getData();
		}
		String blobId = externalizedId(theBinary);
		IBinaryStorageSvc storage = myBinaryStorage.getIfAvailable();
		if (blobId == null || storage == null) {
			throw new DicomWebException(404, "Binary/" + theBinary.getIdElement().getIdPart() + " holds no bytes");
		}
		return storage.fetchBinaryContent(theBinary.getIdElement().toVersionless(), blobId);
	}

	/**
	 * The Binary's instance opened for frames and bulk data: its file in place when HAPI's
	 * filesystem store holds it, else its bytes in memory.
	 */
	StoredInstance open(Binary theBinary) throws IOException {
		if (theBinary.getData() == null) {
			BlobFiles files = blobFiles();
			java.nio.file.Path file = files == null ? null : files.file(theBinary.getIdElement().toVersionless(), externalizedId(theBinary));
			if (file != null) {
				return StoredInstance.onDisk(file);
			}
		}
		return StoredInstance.inMemory(bytes(theBinary));
	}

	private BlobFiles blobFiles() {
		if (!myBlobFilesResolved) {
			myBlobFiles = BlobFiles.of(myBinaryStorage.getIfAvailable());
			myBlobFilesResolved = true;
		}
		return myBlobFiles;
	}

	private static String externalizedId(Binary theBinary) {
		Extension ext = theBinary.getDataElement().getExtensionByUrl(HapiExtensions.EXT_EXTERNALIZED_BINARY_ID);
		return ext == null || ext.getValue() == null ? null : ext.getValue().primitiveValue();
	}
}
