package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.searchparam.MatchUrlService;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.model.api.IQueryParameterType;
import ca.uhn.fhir.util.UrlUtil;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.rest.api.SortOrderEnum;
import ca.uhn.fhir.rest.api.SortSpec;
import ca.uhn.fhir.rest.param.DateParam;
import ca.uhn.fhir.rest.param.DateRangeParam;
import ca.uhn.fhir.rest.param.ParamPrefixEnum;
import ca.uhn.fhir.rest.param.StringOrListParam;
import ca.uhn.fhir.rest.param.StringParam;
import ca.uhn.fhir.rest.param.TokenOrListParam;
import ca.uhn.fhir.rest.param.TokenParam;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.dicomfhir.bridge.CoreConstants;
import org.dicomfhir.bridge.DicomNative;
import org.dicomfhir.hapi.studywrite.AttributeIndex;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;

import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;

/**
 * QIDO-RS (PS3.18 §10.6). The database narrows, Rust decides: the Rust core validates the query
 * and says which FHIR search parameters can narrow it ({@code qidoPlan}); the ImagingStudy search
 * returns a bounded superset; the Rust core does the DICOM matching, paging and attribute
 * selection ({@code qido}).
 */
public class QidoService {

	static final ObjectMapper JSON = new ObjectMapper();
	/** Newest first (no `started` last), then by id: the order of `_sort=-started,_id`. */
	static final java.util.Comparator<ImagingStudy> NEWEST_FIRST = java.util.Comparator
			.comparing((ImagingStudy st) -> st.getStartedElement().getValue(), java.util.Comparator.nullsLast(java.util.Comparator.reverseOrder()))
			.thenComparing(st -> st.getIdElement().getIdPart(), java.util.Comparator.nullsLast(java.util.Comparator.naturalOrder()));
	static final String SP_PATIENT_ID = "dicom-patient-id";
	static final String SP_PATIENT_NAME = "dicom-patient-name";
	static final String SP_STUDY_DESCRIPTION = "dicom-study-description";
	static final String SP_ACCESSION_NUMBER = "dicom-accession-number";
	static final String SP_MODALITY = "dicom-modality";

	private final FhirContext myFhirContext;
	private final StudyStore myStore;
	private final DicomWebProperties myProperties;
	private final MatchUrlService myMatchUrlService;
	private final StoredAttributes myStoredAttributes;
	private final AttributeIndex myAttributeIndex;
	private final java.util.concurrent.atomic.AtomicLong myNewestPages = new java.util.concurrent.atomic.AtomicLong();

	public QidoService(FhirContext theFhirContext, StudyStore theStore, DicomWebProperties theProperties, MatchUrlService theMatchUrlService,
			StoredAttributes theStoredAttributes, AttributeIndex theAttributeIndex) {
		myFhirContext = theFhirContext;
		myStore = theStore;
		myProperties = theProperties;
		myMatchUrlService = theMatchUrlService;
		myStoredAttributes = theStoredAttributes;
		myAttributeIndex = theAttributeIndex;
	}

	void search(DicomWebRequest theRequest, String theLevel, String theStudyUid, String theSeriesUid) throws IOException {
		checkAccept(theRequest.header("Accept"));
		ObjectNode request = JSON.createObjectNode();
		request.put("level", theLevel);
		if (theStudyUid != null) {
			request.put("studyInstanceUid", theStudyUid);
		}
		if (theSeriesUid != null) {
			request.put("seriesInstanceUid", theSeriesUid);
		}
		ArrayNode params = request.putArray("params");
		for (Map.Entry<String, String[]> e : theRequest.servletRequest().getParameterMap().entrySet()) {
			for (String v : e.getValue()) {
				params.addArray().add(e.getKey()).add(v);
			}
		}
		request.put("retrieveBase", theRequest.serviceBase());
		request.put("maxResults", myProperties.getQidoMaxResults());
		String requestJson = request.toString();

		JsonNode plan = JSON.readTree(DicomNative.qidoPlan(requestJson));
		int cap = Math.max(1, myProperties.getQidoMaxCandidateStudies());
		SearchParameterMap map = narrow(plan);
		boolean indexed = narrowByAttributeIndex(map, plan.path("index"), cap);
		addNarrowing(map, theRequest);
		// a long: offset comes from the query string, and an int would wrap it into a small page
		long window = plan.path("window").asLong(Long.MAX_VALUE);
		Answer answer = !indexed && window <= cap / NEWEST_PAGE_SHARE
				? fromNewest(map, plan, requestJson, (int) window, cap, theRequest) : null;
		boolean cut = false;
		if (answer == null) {
			// Unsorted first: the database's sort (a join on the `started` index per result row) grew
			// with the store (PatientName prefixes: 8 s at 100,000 instances). All candidates are loaded
			// anyway, so they are ordered here; only when there are more than the cap does the database
			// sort, to keep the newest. Candidates the attribute index named (at most the cap) may come
			// from the parsed-study cache: loading and parsing them whole was most of such a query.
			List<ImagingStudy> studies = indexed ? myStore.searchToShow(map, theRequest.details(), cap + 1)
					: myStore.search(map, theRequest.details(), cap + 1);
			cut = studies.size() > cap;
			if (cut) {
				studies = myStore.search(newestFirst(map), theRequest.details(), cap + 1);
				studies = studies.subList(0, Math.min(cap, studies.size())); // fewer when studies went meanwhile
			} else {
				studies = new java.util.ArrayList<>(studies);
				studies.sort(NEWEST_FIRST);
			}
			answer = answer(studies, cut, plan, requestJson, cap, theRequest);
		}

		var response = theRequest.servletResponse();
		for (JsonNode w : answer.result().path("warnings")) {
			response.addHeader("Warning", theRequest.warning(w.asText()));
		}
		long remaining = answer.result().path("remaining").asLong();
		if (answer.moreBeyond()) {
			response.addHeader("Warning", theRequest.warning("There are additional results that can be requested"));
		} else if (remaining > 0) {
			response.addHeader("Warning", theRequest.warning("There are " + remaining + " additional results that can be requested"));
		}
		if (cut) {
			response.addHeader("Warning", theRequest.warning("The query matched more than " + cap
					+ " studies in the database; only the " + cap + " most recent were searched. Narrow the query"));
		}
		response.setStatus(200);
		// exactly this media type: clients (dicomweb-client) compare it verbatim; JSON is UTF-8 (RFC 8259)
		response.setContentType("application/dicom+json");
		byte[] bytes = answer.bytes();
		int start = answer.bodyStart();
		response.setContentLength(bytes.length - start);
		try (OutputStream out = response.getOutputStream()) {
			out.write(bytes, start, bytes.length - start);
		}
	}

	/**
	 * A page needing at most this share of the candidate cap ({@code window}: offset + rows) is
	 * answered from the newest candidates ({@link #fromNewest}); a larger one loads them all.
	 */
	static final int NEWEST_PAGE_SHARE = 4;

	/** The Rust core's answer: its header line ({@code result}) and the DICOM JSON after it. */
	private record Answer(JsonNode result, byte[] bytes, int bodyStart, boolean moreBeyond) {
		Answer beyond() {
			return new Answer(result, bytes, bodyStart, true);
		}
	}

	private static SearchParameterMap newestFirst(SearchParameterMap theMap) {
		SearchParameterMap sorted = theMap.clone();
		sorted.setSort(new SortSpec(ImagingStudy.SP_STARTED, SortOrderEnum.DESC).setChain(new SortSpec("_id", SortOrderEnum.ASC)));
		return sorted;
	}

	/**
	 * A page ({@code limit}, OHIF's study list) of a query matching many studies, answered from the
	 * newest candidates instead of all of them: the database's newest {@code k} (sorted by
	 * {@code started}), {@code k} growing until they give more rows than the page needs, so the rows
	 * are those the whole candidate set gives and more are known to exist. At a million instances,
	 * {@code series?Modality=CT&limit=100} otherwise loaded the cap's 2,000 studies twice.
	 * Only the part of them {@link #newestPrefix} proves first in {@link #NEWEST_FIRST} is answered
	 * from; when it cannot, null: then every candidate is loaded as before.
	 */
	private Answer fromNewest(SearchParameterMap theMap, JsonNode thePlan, String theRequestJson, int theWindow, int theCap,
			DicomWebRequest theRequest) throws IOException {
		SearchParameterMap sorted = newestFirst(theMap);
		// A quarter more than the page: the studies starting with the oldest are left out, and
		// the database's narrowing may name studies the Rust core's matching then drops.
		for (int k = Math.min(theCap, theWindow + theWindow / 4 + 2); ; k = Math.min(theCap, k * NEWEST_PAGE_SHARE)) {
			List<ImagingStudy> newest = myStore.search(sorted, theRequest.details(), k + 1);
			if (newest.size() <= k) { // every candidate
				List<ImagingStudy> all = new java.util.ArrayList<>(newest);
				all.sort(NEWEST_FIRST);
				return answer(all, false, thePlan, theRequestJson, theCap, theRequest);
			}
			List<ImagingStudy> prefix = newestPrefix(newest);
			if (prefix == null) {
				return null;
			}
			Answer answer = answer(prefix, false, thePlan, theRequestJson, theCap, theRequest);
			if (answer.result().path("total").asLong() > theWindow) {
				myNewestPages.incrementAndGet();
				return answer.beyond();
			}
			if (k >= theCap) {
				return null;
			}
		}
	}

	/** How many pages {@link #fromNewest} answered from part of the candidates since start (tests, diagnostics). */
	public long newestPageAnswers() {
		return myNewestPages.get();
	}

	/**
	 * Of the database's newest studies (sorted by {@code started}, more existing after them), those
	 * that come first in {@link #NEWEST_FIRST} whatever the rest are; null when the database's order
	 * is not {@link #NEWEST_FIRST}'s. Studies without a start come last in {@link #NEWEST_FIRST}
	 * and first or last in the database's order (its null ordering decides): first, they are left
	 * out; last, every study with a start came before them, so all of those are the prefix.
	 */
	static List<ImagingStudy> newestPrefix(List<ImagingStudy> theNewest) {
		List<ImagingStudy> dated = new java.util.ArrayList<>();
		boolean undatedFirst = false;
		boolean undatedLast = false;
		for (ImagingStudy study : theNewest) {
			if (study.getStartedElement().getValue() == null) {
				if (dated.isEmpty()) {
					undatedFirst = true;
				} else {
					undatedLast = true;
				}
			} else if (undatedLast) {
				return null; // a study without a start between studies with one
			} else {
				if (!dated.isEmpty() && !sameStart(dated.get(dated.size() - 1), study)
						&& NEWEST_FIRST.compare(dated.get(dated.size() - 1), study) > 0) {
					return null;
				}
				dated.add(study);
			}
		}
		if (undatedFirst && undatedLast) {
			return null;
		}
		List<ImagingStudy> prefix = new java.util.ArrayList<>();
		if (undatedLast) {
			prefix.addAll(dated);
		} else if (!dated.isEmpty()) {
			// studies starting as the oldest here does may continue past it
			java.util.Date oldest = dated.get(dated.size() - 1).getStartedElement().getValue();
			for (ImagingStudy study : dated) {
				if (study.getStartedElement().getValue().after(oldest)) {
					prefix.add(study);
				}
			}
		}
		prefix.sort(NEWEST_FIRST);
		return prefix;
	}

	private static boolean sameStart(ImagingStudy theA, ImagingStudy theB) {
		return theA.getStartedElement().getValue().equals(theB.getStartedElement().getValue());
	}

	/** The Rust core's answer over these candidates, in this order ({@code theCut}: the newest of more). */
	private Answer answer(List<ImagingStudy> theStudies, boolean theCut, JsonNode thePlan, String theRequestJson, int theCap,
			DicomWebRequest theRequest) throws IOException {
		// Attributes the ImagingStudy does not keep are read from the stored instances, of every
		// candidate: bounded, and refused rather than answered from a part of the candidates.
		JsonNode stored = thePlan.path("stored");
		boolean unindexed = !stored.path("unindexed").isEmpty();
		boolean keptValuesSuffice = stored.path("keptValuesSuffice").asBoolean(false);
		java.util.function.Predicate<ImagingStudy> readsInstances =
				study -> unindexed && !(keptValuesSuffice && keepsEveryValue(study));
		if (theCut && theStudies.stream().anyMatch(readsInstances)) {
			throw tooManyReads(stored, "more than " + theCap + " studies");
		}
		// Studies that keep their DICOM values need no Patient: its values would be overridden.
		Map<String, Patient> patients = theStudies.stream().allMatch(QidoService::keepsValues)
				? Map.of() : myStore.patients(theStudies, theRequest.details());

		StoredAttributes.Selection selection = StoredAttributes.Selection.of(stored);
		prefetchStoredValues(theStudies, stored, selection, readsInstances, theRequest);
		IParser parser = myFhirContext.newJsonParser();
		StringBuilder candidates = new StringBuilder("[");
		for (ImagingStudy study : theStudies) {
			if (candidates.length() > 1) {
				candidates.append(',');
			}
			ObjectNode dicom = storedValues(study, stored, selection, readsInstances.test(study), theRequest);
			boolean omitInstances = !stored.path("instances").asBoolean(true) && keepsValues(study);
			candidates.append("{\"imagingStudy\":").append(omitInstances
					? StudyReadCache.withoutInstances(study, () -> encodeWithoutInstances(parser, study)) : parser.encodeResourceToString(study));
			Patient patient = patients.get(study.getSubject().getReferenceElement().getIdPart());
			candidates.append(",\"patient\":").append(patient == null ? "null" : parser.encodeResourceToString(patient));
			if (omitInstances) {
				dicom.put("instancesOmitted", true);
			}
			candidates.append(",\"dicom\":").append(dicom).append('}');
		}
		candidates.append(']');

		byte[] answer = DicomNative.qidoAnswer(theRequestJson, candidates.toString());
		int newline = 0;
		while (newline < answer.length && answer[newline] != '\n') {
			newline++;
		}
		return new Answer(JSON.readTree(answer, 0, newline), answer, Math.min(newline + 1, answer.length), false);
	}

	/**
	 * The ImagingStudy as JSON without its instance entries, for a query that needs no instance
	 * values: the Rust core then counts with each series' numberOfInstances. Encoding (and parsing
	 * again in Rust) a study's every instance was most of a study-level query's cost.
	 */
	private static String encodeWithoutInstances(IParser theParser, ImagingStudy theStudy) {
		List<List<ImagingStudy.ImagingStudySeriesInstanceComponent>> saved = new java.util.ArrayList<>();
		for (ImagingStudy.ImagingStudySeriesComponent se : theStudy.getSeries()) {
			saved.add(se.getInstance());
			se.setInstance(null);
		}
		try {
			return theParser.encodeResourceToString(theStudy);
		} finally {
			for (int i = 0; i < saved.size(); i++) {
				theStudy.getSeries().get(i).setInstance(saved.get(i));
			}
		}
	}

	/**
	 * Reads the instances {@link #storedValues} will need in batches (cold cache: 100 Binaries per
	 * search). When the query needs attributes the ImagingStudy does not keep, those are all the
	 * candidates' (first instance of each study or series, or every instance, by the levels the
	 * query needs), at most {@code qido-max-instance-reads}.
	 */
	private void prefetchStoredValues(List<ImagingStudy> theStudies, JsonNode theStored, StoredAttributes.Selection theSelection,
			java.util.function.Predicate<ImagingStudy> theReadsInstances, DicomWebRequest theRequest) {
		boolean seriesValues = theStored.path("series").asBoolean(true);
		boolean instanceValues = theStored.path("instances").asBoolean(true);
		boolean readInstances = false;
		java.util.Set<String> ids = new java.util.LinkedHashSet<>();
		for (ImagingStudy study : theStudies) {
			boolean reads = theReadsInstances.test(study);
			readInstances |= reads;
			if (keepsValues(study) && !reads) {
				continue;
			}
			boolean studyDone = false;
			for (ImagingStudy.ImagingStudySeriesComponent se : study.getSeries()) {
				boolean first = true;
				for (ImagingStudy.ImagingStudySeriesInstanceComponent instance : se.getInstance()) {
					String binaryId = StudyStore.binaryId(instance);
					if (binaryId == null) {
						continue;
					}
					if (!studyDone || (first && seriesValues) || instanceValues) {
						ids.add(binaryId);
					}
					studyDone = true;
					first = false;
				}
			}
		}
		int bound = myProperties.getQidoMaxInstanceReads();
		if (readInstances && ids.size() > bound) {
			throw tooManyReads(theStored, ids.size() + " instances");
		}
		myStoredAttributes.prefetch(ids, theSelection, theRequest.details());
	}

	/** 400 for a query on attributes the ImagingStudy does not keep that would read too many instances. */
	private DicomWebException tooManyReads(JsonNode theStored, String theHowMany) {
		List<String> unindexed = new java.util.ArrayList<>();
		theStored.path("unindexed").forEach(u -> unindexed.add(u.asText()));
		List<String> narrowing = new java.util.ArrayList<>();
		theStored.path("narrowingKeys").forEach(u -> narrowing.add(u.asText()));
		return DicomWebException.badRequest("QIDO: " + String.join(", ", unindexed)
				+ " is not kept in the ImagingStudy index, so it is read from the stored instances, and this query would read "
				+ theHowMany + " (more than dicomfhir.dicomweb.qido-max-instance-reads = " + myProperties.getQidoMaxInstanceReads()
				+ "). Narrow the query with " + String.join(", ", narrowing)
				+ " or a study or series in the path (docs/dicomweb.md, \"Keys outside the index\")");
	}

	/**
	 * Whether the ImagingStudy keeps the DICOM values QIDO needs ({@code dicom-attributes} on the
	 * study and on every series, written at ingest): then the Rust core takes them from there, and
	 * instance values from the instance entries, and no Binary is read.
	 */
	static boolean keepsValues(ImagingStudy theStudy) {
		if (theStudy.getExtensionByUrl(StudyStore.DICOM_ATTRIBUTES) == null) {
			return false;
		}
		return theStudy.getSeries().stream().allMatch(se -> se.getExtensionByUrl(StudyStore.DICOM_ATTRIBUTES) != null);
	}

	/**
	 * Whether the ImagingStudy keeps every study and series attribute of its instances, not only
	 * the table's ({@code otherAttributes} in {@code dicom-attributes} on the study and on every
	 * series, written at ingest since this version): then a query whose plan says
	 * {@code keptValuesSuffice} reads no instance of it. Studies written earlier are read.
	 */
	static boolean keepsEveryValue(ImagingStudy theStudy) {
		return keepsOtherAttributes(theStudy.getExtensionByUrl(StudyStore.DICOM_ATTRIBUTES))
				&& theStudy.getSeries().stream().allMatch(se -> keepsOtherAttributes(se.getExtensionByUrl(StudyStore.DICOM_ATTRIBUTES)));
	}

	private static boolean keepsOtherAttributes(org.hl7.fhir.r4.model.Extension theKept) {
		return theKept != null && theKept.getExtensionByUrl(CoreConstants.OTHER_ATTRIBUTES) != null;
	}

	/**
	 * The values of the stored instances for the Rust core (see {@code qido::records}), for a
	 * study written before ingest kept them in the ImagingStudy, or for attributes it does not keep
	 * (the plan's {@code unindexed}): the study's from its first
	 * instance, each series' from its first instance (when the query needs series values), each
	 * instance's own (when it needs instance values).
	 */
	private ObjectNode storedValues(ImagingStudy theStudy, JsonNode theStored, StoredAttributes.Selection theSelection,
			boolean theReadInstances, DicomWebRequest theRequest) {
		if (keepsValues(theStudy) && !theReadInstances) {
			return JSON.createObjectNode();
		}
		boolean seriesValues = theStored.path("series").asBoolean(true);
		boolean instanceValues = theStored.path("instances").asBoolean(true);
		ObjectNode out = JSON.createObjectNode();
		ObjectNode series = out.putObject("series");
		ObjectNode instances = out.putObject("instances");
		for (ImagingStudy.ImagingStudySeriesComponent se : theStudy.getSeries()) {
			boolean first = true;
			for (ImagingStudy.ImagingStudySeriesInstanceComponent instance : se.getInstance()) {
				String binaryId = StudyStore.binaryId(instance);
				if (binaryId == null) {
					continue;
				}
				if (!out.has("study") || (first && seriesValues) || instanceValues) {
					ObjectNode values = myStoredAttributes.get(binaryId, theSelection, theRequest.details());
					if (values == null && !instanceValues) {
						return out; // unreadable (e.g. Binary not readable for this caller): FHIR values, no further reads
					}
					if (values != null) {
						if (!out.has("study")) {
							out.set("study", values);
						}
						if (first && seriesValues && se.getUid() != null) {
							series.set(se.getUid(), values);
						}
						if (instanceValues && instance.getUid() != null) {
							instances.set(instance.getUid(), values);
						}
					}
				}
				first = false;
				if (!seriesValues && !instanceValues && out.has("study")) {
					return out;
				}
			}
		}
		return out;
	}

	/**
	 * Keys on indexed tags narrow the candidates to the studies the attribute index names (ANDed
	 * to the other parameters: the same search, with the caller's rights, and the core still
	 * matches every candidate). More than the cap: left to the search as without the index
	 * (false).
	 */
	private boolean narrowByAttributeIndex(SearchParameterMap theMap, JsonNode theConditions, int theCap) {
		java.util.Set<String> studies = myAttributeIndex.candidateStudies(theConditions, theCap);
		if (studies == null) {
			return false;
		}
		TokenOrListParam or = new TokenOrListParam();
		studies.forEach(u -> or.addOr(StudyStore.studyIdentifier(u)));
		if (or.getValuesAsQueryTokens().isEmpty()) {
			or.addOr(new TokenParam(StudyStore.UID_SYSTEM, "urn:oid:none")); // no study has the value: nothing matches
		}
		theMap.add(ImagingStudy.SP_IDENTIFIER, or);
		return true;
	}

	/**
	 * FHIR search parameters an interceptor added to the request (SearchNarrowingInterceptor adds
	 * e.g. {@code patient=Patient/123} for a caller limited to that compartment) are ANDed to the
	 * ImagingStudy search, so QIDO returns only what the caller may see, as a FHIR search would.
	 * They are the RequestDetails parameters the query string does not have (DICOM query keys are
	 * never FHIR parameter names: the core rejects unknown keys).
	 */
	private void addNarrowing(SearchParameterMap theMap, DicomWebRequest theRequest) {
		Map<String, String[]> sent = theRequest.servletRequest().getParameterMap();
		StringBuilder added = new StringBuilder();
		for (Map.Entry<String, String[]> e : theRequest.details().getParameters().entrySet()) {
			if (sent.containsKey(e.getKey())) {
				continue; // the client's own (DICOM) query key; validated by the core
			}
			for (String value : e.getValue()) {
				added.append(added.length() == 0 ? '?' : '&').append(UrlUtil.escapeUrlParam(e.getKey()))
						.append('=').append(UrlUtil.escapeUrlParam(value));
			}
		}
		if (added.length() == 0) {
			return;
		}
		SearchParameterMap narrowing = myMatchUrlService.translateMatchUrl("ImagingStudy" + added,
				myFhirContext.getResourceDefinition("ImagingStudy"));
		for (Map.Entry<String, List<List<IQueryParameterType>>> e : narrowing.entrySet()) {
			List<List<IQueryParameterType>> and = new java.util.ArrayList<>();
			if (theMap.get(e.getKey()) != null) {
				and.addAll(theMap.get(e.getKey()));
			}
			and.addAll(e.getValue());
			theMap.put(e.getKey(), and);
		}
	}

	static void checkAccept(String theAccept) {
		if (theAccept == null || theAccept.isBlank()) {
			return;
		}
		String a = theAccept.toLowerCase();
		if (a.contains("json") || a.contains("*/*") || a.contains("application/*")) {
			return;
		}
		throw DicomWebException.notAcceptable("QIDO-RS answers application/dicom+json only (Accept: " + theAccept + ")");
	}

	/** The FHIR search for the plan: a superset of the DICOM matches. */
	private static SearchParameterMap narrow(JsonNode thePlan) {
		SearchParameterMap map = SearchParameterMap.newSynchronous();
		JsonNode studyUids = thePlan.path("studyUids");
		if (studyUids.isArray()) {
			TokenOrListParam or = new TokenOrListParam();
			studyUids.forEach(u -> or.addOr(StudyStore.studyIdentifier(u.asText())));
			if (or.getValuesAsQueryTokens().isEmpty()) {
				or.addOr(new TokenParam(StudyStore.UID_SYSTEM, "urn:oid:none")); // contradictory UIDs: nothing matches
			}
			map.add(ImagingStudy.SP_IDENTIFIER, or);
		}
		addTokens(map, ImagingStudy.SP_SERIES, thePlan.path("seriesUids"), "");
		addTokens(map, ImagingStudy.SP_INSTANCE, thePlan.path("sopUids"), "");
		addTokens(map, ImagingStudy.SP_DICOM_CLASS, thePlan.path("sopClassUids"), "urn:oid:");
		addExactStrings(map, SP_MODALITY, thePlan.path("modalities"));
		addExactStrings(map, SP_ACCESSION_NUMBER, thePlan.path("accessionNumbers"));
		if (thePlan.hasNonNull("startedFrom") || thePlan.hasNonNull("startedTo")) {
			DateParam lo = thePlan.hasNonNull("startedFrom")
					? new DateParam(ParamPrefixEnum.GREATERTHAN_OR_EQUALS, thePlan.get("startedFrom").asText()) : null;
			DateParam hi = thePlan.hasNonNull("startedTo")
					? new DateParam(ParamPrefixEnum.LESSTHAN_OR_EQUALS, thePlan.get("startedTo").asText()) : null;
			map.add(ImagingStudy.SP_STARTED, new DateRangeParam(lo, hi));
		}
		// The plugin's SearchParameters on the DICOM values kept in the ImagingStudy (not the
		// Patient's FHIR name or identifier, which may be edited): see ConformanceResources.
		if (thePlan.hasNonNull("patientId")) {
			map.add(SP_PATIENT_ID, new StringParam(thePlan.get("patientId").asText(), true));
		}
		if (thePlan.hasNonNull("patientNamePrefix")) {
			map.add(SP_PATIENT_NAME, new StringParam(thePlan.get("patientNamePrefix").asText()));
		}
		if (thePlan.hasNonNull("studyDescriptionPrefix")) {
			map.add(SP_STUDY_DESCRIPTION, new StringParam(thePlan.get("studyDescriptionPrefix").asText()));
		}
		return map;
	}

	private static void addExactStrings(SearchParameterMap theMap, String theParam, JsonNode theValues) {
		if (!theValues.isArray() || theValues.isEmpty()) {
			return;
		}
		StringOrListParam or = new StringOrListParam();
		theValues.forEach(v -> or.addOr(new StringParam(v.asText(), true)));
		theMap.add(theParam, or);
	}

	private static void addTokens(SearchParameterMap theMap, String theParam, JsonNode theValues, String thePrefix) {
		if (!theValues.isArray() || theValues.isEmpty()) {
			return;
		}
		TokenOrListParam or = new TokenOrListParam();
		theValues.forEach(v -> or.addOr(new TokenParam(null, thePrefix + v.asText())));
		theMap.add(theParam, or);
	}
}
