package org.dicomfhir.hapi.dicomweb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletResponse;
import org.dicomfhir.bridge.DicomLimitException;
import org.dicomfhir.bridge.DicomNative;
import org.dicomfhir.bridge.TransferSyntax;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.ImagingStudy;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * WADO-RS frames and bulk data (PS3.18 §10.4.1.1.3–4) of one stored instance: the core locates
 * the values in the instance's bytes ({@link StoredInstance#frames}, {@link StoredInstance#bulkdata})
 * and they are copied from there, as stored, or, for frames asked for in Explicit VR Little Endian,
 * decoded by the core.
 */
class BulkDataService {

	private static final org.slf4j.Logger ourLog = org.slf4j.LoggerFactory.getLogger(BulkDataService.class);
	private static final ObjectMapper JSON = new ObjectMapper();

	private final StudyStore myStore;
	private final DicomWebProperties myProperties;

	BulkDataService(StudyStore theStore, DicomWebProperties theProperties) {
		myStore = theStore;
		myProperties = theProperties;
	}

	/**
	 * WADO-RS frames: {@code …/instances/{i}/frames/1,3,5}, one part per frame in request order.
	 * At most {@code dicomfhir.dicomweb.wado-max-frames} frames, repeats included (400 beyond);
	 * the core locates each distinct frame once and a repeat sends the same bytes again.
	 */
	void frames(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theFrameList) throws IOException {
		String[] numbers = theFrameList.split(",", -1);
		int max = myProperties.getWadoMaxFrames();
		if (numbers.length > max) {
			throw DicomWebException.badRequest("A frames request may name at most " + max + " frames, repeats included"
					+ " (dicomfhir.dicomweb.wado-max-frames); this one names " + numbers.length);
		}
		StudyStore.InstanceRef ref = instanceRef(theRequest, theStudy, theSeries, theInstance);
		Binary binary = readableBinary(theRequest, ref);
		try (StoredInstance stored = myStore.open(binary)) {
			frames(theRequest, theInstance, theFrameList, numbers, ref, stored);
		}
	}

	private void frames(DicomWebRequest theRequest, String theInstance, String theFrameList, String[] theNumbers,
			StudyStore.InstanceRef theRef, StoredInstance theStored) throws IOException {
		// each distinct frame number is located once; index[i] = its position among the distinct ones
		Map<String, Integer> distinct = new LinkedHashMap<>();
		int[] index = new int[theNumbers.length];
		for (int i = 0; i < theNumbers.length; i++) {
			String n = theNumbers[i].trim();
			Integer at = distinct.get(n);
			if (at == null) {
				at = distinct.size();
				distinct.put(n, at);
			}
			index[i] = at;
		}
		String json;
		try {
			json = theStored.frames(String.join(",", distinct.keySet()), myProperties.getMaxInflatedBytes());
		} catch (DicomLimitException e) {
			throw RetrieveErrors.tooLarge(e, theRef, myProperties.getMaxInflatedBytes());
		}
		JsonNode result = JSON.readTree(json);
		String storedTs = AcceptNegotiation.servedTs(result.path("transferSyntaxUid").asText(theRef.transferSyntaxUid()));
		JsonNode frames = result.path("frames");
		List<List<Object>> located = new ArrayList<>();
		List<String> tokens = new ArrayList<>(distinct.keySet());
		for (int i = 0; i < frames.size(); i++) {
			if (frames.get(i).isNull()) {
				long count = result.path("numberOfFrames").asLong();
				throw DicomWebException.notFound("Frame " + tokens.get(i) + " does not exist: instance " + theInstance
						+ (count == 0 ? " has no pixel data" : " has " + count + " frame" + (count == 1 ? "" : "s")));
			}
			located.add(chunks(frames.get(i)));
		}
		List<List<Object>> parts = new ArrayList<>(theNumbers.length);
		for (int i : index) {
			parts.add(located.get(i));
		}
		AcceptNegotiation.BulkChoice choice = AcceptNegotiation.bulk(theRequest.header("Accept"), storedTs, parts.size() == 1, true);
		String base = theRequest.instanceUrl(theRef) + "/frames/";
		List<String> locations = new ArrayList<>();
		for (String n : theNumbers) {
			locations.add(base + n.trim());
		}
		String etag = "\"" + theRef.binaryId() + "/frames/" + theFrameList.replace(" ", "") + "\"";
		if (choice.decode()) {
			// the decoded frames replace the located ones; a frame is asked for once however often it repeats
			long max = myProperties.getMaxInflatedBytes();
			byte[] bytes = theStored.bytes();
			byte[] decoded = RetrieveErrors.refusal(theRef, max, () -> DicomNative.transcodeFrames(bytes, String.join(",", distinct.keySet()), max));
			int length = decoded.length / distinct.size();
			parts.clear();
			for (int i : index) {
				parts.add(List.of(Arrays.copyOfRange(decoded, i * length, (i + 1) * length)));
			}
			storedTs = TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN;
			etag = EntityTags.computed(List.of(theRef), "frames/" + theFrameList.replace(" ", "") + " decoded");
		}
		sendParts(theRequest, choice, storedTs, theStored, parts, locations, etag);
	}

	/** WADO-RS bulk data: the value a BulkDataURI of the metadata names. */
	void bulkdata(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance, String theTagPath) throws IOException {
		StudyStore.InstanceRef ref = instanceRef(theRequest, theStudy, theSeries, theInstance);
		Binary binary = readableBinary(theRequest, ref);
		try (StoredInstance stored = myStore.open(binary)) {
			bulkdata(theRequest, theInstance, theTagPath, ref, stored);
		}
	}

	private void bulkdata(DicomWebRequest theRequest, String theInstance, String theTagPath, StudyStore.InstanceRef theRef,
			StoredInstance theStored) throws IOException {
		String json;
		try {
			json = theStored.bulkdata(theTagPath, myProperties.getMaxInflatedBytes());
		} catch (DicomLimitException e) {
			throw RetrieveErrors.tooLarge(e, theRef, myProperties.getMaxInflatedBytes());
		}
		if (json == null) {
			throw DicomWebException.notFound("Instance " + theInstance + " has no bulk data at " + theTagPath);
		}
		JsonNode result = JSON.readTree(json);
		List<List<Object>> parts = new ArrayList<>();
		for (JsonNode p : result.path("parts")) {
			parts.add(chunks(p));
		}
		String storedTs = theRef.transferSyntaxUid();
		boolean pixel = theTagPath.equalsIgnoreCase("7FE00010");
		// Only the Pixel Data of an encapsulated instance is compressed; other values are plain bytes.
		String tsForNegotiation = pixel ? AcceptNegotiation.servedTs(storedTs) : TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN;
		AcceptNegotiation.BulkChoice choice = AcceptNegotiation.bulk(theRequest.header("Accept"), tsForNegotiation, parts.size() == 1);
		List<String> locations = new ArrayList<>();
		String url = theRequest.instanceUrl(theRef) + "/bulkdata/" + theTagPath;
		for (int i = 0; i < parts.size(); i++) {
			locations.add(url);
		}
		sendParts(theRequest, choice, tsForNegotiation, theStored, parts, locations, "\"" + theRef.binaryId() + "/bulkdata/" + theTagPath + "\"");
	}

	private StudyStore.InstanceRef instanceRef(DicomWebRequest theRequest, String theStudy, String theSeries, String theInstance) {
		if (theSeries == null || theInstance == null) {
			throw DicomWebException.notFound("Frames and bulk data are resources of an instance: /studies/{s}/series/{se}/instances/{i}/…");
		}
		ImagingStudy study = myStore.studyToShow(theStudy, theRequest.details());
		return StudyStore.instances(study, theStudy, theSeries, theInstance).get(0);
	}

	/** A chunk list of the core: {@code [offset,length]} of the instance bytes, or base64 bytes. */
	private static List<Object> chunks(JsonNode theChunks) {
		List<Object> out = new ArrayList<>();
		for (JsonNode c : theChunks) {
			if (c.isArray()) {
				out.add(new long[] {c.get(0).asLong(), c.get(1).asLong()});
			} else {
				out.add(Base64.getDecoder().decode(c.asText()));
			}
		}
		return out;
	}

	private static long length(List<Object> theChunks) {
		long n = 0;
		for (Object c : theChunks) {
			n += c instanceof long[] r ? r[1] : ((byte[]) c).length;
		}
		return n;
	}

	private static void write(OutputStream theOut, StoredInstance theStored, List<Object> theChunks) throws IOException {
		for (Object c : theChunks) {
			if (c instanceof long[] r) {
				theStored.copy(theOut, r[0], r[1]);
			} else {
				theOut.write((byte[]) c);
			}
		}
	}

	private void sendParts(DicomWebRequest theRequest, AcceptNegotiation.BulkChoice theChoice, String theStoredTs, StoredInstance theStored,
			List<List<Object>> theParts, List<String> theLocations, String theEtag) throws IOException {
		HttpServletResponse response = theRequest.servletResponse();
		if (EntityTags.notModified(theRequest, response, theEtag)) {
			return;
		}
		String ts = theStoredTs == null ? "" : "; transfer-syntax=" + theStoredTs;
		response.setStatus(200);
		response.setHeader("ETag", theEtag);
		boolean head = "HEAD".equals(theRequest.servletRequest().getMethod());
		if (!theChoice.multipart()) {
			response.setContentType(theChoice.mediaType() + ts);
			response.setHeader("Content-Location", theLocations.get(0));
			response.setContentLengthLong(length(theParts.get(0)));
			if (!head) {
				try (OutputStream out = response.getOutputStream()) {
					write(out, theStored, theParts.get(0));
				}
			}
			return;
		}
		MultipartWriter parts = new MultipartWriter(theChoice.mediaType());
		response.setContentType(parts.contentType());
		if (head) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			for (int i = 0; i < theParts.size(); i++) {
				var part = theParts.get(i);
				parts.part(out, theChoice.mediaType() + ts, theLocations.get(i), length(part), o -> write(o, theStored, part));
			}
			parts.close(out);
		}
	}

	/** The Binary of one instance; 404 when its bytes are missing. */
	private Binary readableBinary(DicomWebRequest theRequest, StudyStore.InstanceRef theRef) {
		Binary binary = myStore.binariesOrNull(List.of(theRef), theRequest.details()).get(0);
		if (binary == null || !myStore.readable(binary)) {
			ourLog.warn("DICOMweb {} {}: the stored bytes of instance {} (Binary/{}) are missing", theRequest.servletRequest().getMethod(),
					theRequest.servletRequest().getPathInfo(), theRef.sopInstanceUid(), theRef.binaryId());
			throw RetrieveErrors.missingBytes(List.of(theRef));
		}
		return binary;
	}
}
