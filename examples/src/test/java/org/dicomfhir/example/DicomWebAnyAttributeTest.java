package org.dicomfhir.example;

import com.fasterxml.jackson.databind.JsonNode;
import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpResponse;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * QIDO on attributes the ImagingStudy does not keep (docs/dicomweb.md, "Keys outside the index"):
 * a key such as Manufacturer is matched with the stored instances' values at its level, never
 * ignored (ignoring it answered every study); {@code includefield} returns what the instances
 * have; a query that would read too many instances is refused (400), never answered in part.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebAnyAttributeTest extends AbstractServerTest {

	// waveform_ecg.dcm: Manufacturer "Mortara Instrument, Inc.", InstitutionName "E. O. Ospedali Galliera", PatientAge 042Y
	private static final String ECG_STUDY = "1.3.76.13.65829.2.20130125082826.1072139.2";
	private static final String ECG_SERIES = "1.3.6.1.4.1.20029.40.20130125105919.5407.1";
	private static final String ECG_SOP = "1.3.6.1.4.1.20029.40.20130125105919.5407.1.1";

	// CT_small.dcm: Manufacturer "GE MEDICAL SYSTEMS", InstitutionName "JFK IMAGING CENTER", PatientAge 000Y,
	// PatientWeight 0.000000, SliceLocation -77.2040634155, ImagePositionPatient -158.135803\-179.035797\-75.699997
	private final String ct = DicomFixtures.newStudyUid();
	private final String ctSeries = DicomFixtures.newSeriesUid();
	private final String ecg = DicomFixtures.newUid(ECG_STUDY.length());
	private String both;

	@BeforeAll
	void store() {
		Map<String, String> replacements = new LinkedHashMap<>();
		replacements.put(ECG_SOP, DicomFixtures.newUid(ECG_SOP.length()));
		replacements.put(ECG_SERIES, DicomFixtures.newUid(ECG_SERIES.length()));
		replacements.put(ECG_STUDY, ecg);
		byte[] ecgInstance = DicomFixtures.replace(DicomFixtures.read("pydicom/waveform_ecg.dcm"), replacements);
		HttpResponse<byte[]> r = send(stowRequest("dicomweb/studies", List.of(ecgInstance,
				DicomFixtures.ctInstance(ct, ctSeries), DicomFixtures.ctInstance(ct, ctSeries))).build());
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		both = "StudyInstanceUID=" + ct + "," + ecg;
	}

	private HttpResponse<byte[]> qidoResponse(String theQuery) {
		return get("dicomweb/" + theQuery, "application/dicom+json");
	}

	private JsonNode qido(String theQuery) {
		HttpResponse<byte[]> r = qidoResponse(theQuery);
		assertThat(r.statusCode()).as(theQuery + ": " + bodyText(r)).isEqualTo(200);
		assertThat(r.headers().allValues("Warning")).as(theQuery).noneMatch(w -> w.contains("ignored"));
		return json(r);
	}

	@Test
	void aKeyOutsideTheKeptSetIsMatchedNotIgnored() {
		// Manufacturer and InstitutionName are series attributes (General Equipment): relational on /studies
		assertThat(values(qido("studies?" + both + "&Manufacturer=GE*"), "0020000D")).containsExactly(ct);
		assertThat(qido("studies?" + both + "&Manufacturer=Philips")).isEmpty();
		assertThat(values(qido("studies?" + both + "&InstitutionName=*Galliera"), "0020000D")).containsExactly(ecg);
		JsonNode series = qido("series?" + both + "&Manufacturer=Mortara*");
		assertThat(values(series, "0020000D")).containsExactly(ecg);
		assertThat(series.get(0).at("/00080070/Value/0").asText()).isEqualTo("Mortara Instrument, Inc.");
		// PatientAge and PatientWeight are study attributes (Patient Study module); DS compares as a number
		JsonNode age = qido("studies?" + both + "&PatientAge=042Y");
		assertThat(values(age, "0020000D")).containsExactly(ecg);
		assertThat(age.get(0).at("/00101010/Value/0").asText()).isEqualTo("042Y");
		assertThat(values(qido("studies?" + both + "&00101030=0"), "0020000D")).containsExactly(ct);
		// SliceLocation is an instance attribute
		assertThat(qido("studies/" + ct + "/instances?SliceLocation=-77.2040634155")).hasSize(2);
		assertThat(qido("studies/" + ct + "/instances?SliceLocation=-77")).isEmpty();
		assertThat(values(qido("studies?" + both + "&SliceLocation=-77.2040634155"), "0020000D")).containsExactly(ct);
	}

	@Test
	void whatCannotBeMatchedIsRefusedNotIgnored() {
		for (String key : List.of("ReferencedImageSequence=1", "RequestAttributesSequence=x", "00400275.00321060=x", "00091001=x")) {
			HttpResponse<byte[]> r = qidoResponse("studies?" + both + "&" + key);
			assertThat(r.statusCode()).as(key).isEqualTo(400);
			assertThat(bodyText(r)).as(key).contains("cannot be a matching key");
		}
	}

	@Test
	void includefieldReturnsEveryNonBulkAttributeAtTheLevel() {
		JsonNode study = qido("studies?StudyInstanceUID=" + ct + "&includefield=all").get(0);
		assertThat(study.at("/00101010/Value/0").asText()).isEqualTo("000Y");
		assertThat(study.has("00080070")).as("Manufacturer is of the series").isFalse();
		JsonNode instance = qido("studies/" + ct + "/instances?includefield=all").get(0);
		assertThat(instance.at("/00201041/Value/0").asDouble()).isEqualTo(-77.2040634155);
		assertThat(instance.at("/00200032/Value").size()).isEqualTo(3);
		assertThat(instance.at("/00080070/Value/0").asText()).isEqualTo("GE MEDICAL SYSTEMS");
		assertThat(instance.has("7FE00010")).as("no pixel data").isFalse();
		instance.fields().forEachRemaining(e -> assertThat(e.getValue().has("BulkDataURI")).as(e.getKey()).isFalse());
		// by keyword or tag, at the resource's level or above
		JsonNode named = qido("studies/" + ct + "/instances?includefield=ImagePositionPatient,00080080").get(0);
		assertThat(named.at("/00200032/Value/1").asDouble()).isEqualTo(-179.035797);
		assertThat(named.at("/00080080/Value/0").asText()).isEqualTo("JFK IMAGING CENTER");
		// a query that keeps to the kept set gets the kept values only (another cache entry)
		JsonNode plain = qido("studies/" + ct + "/instances").get(0);
		assertThat(plain.has("00201041")).isFalse();
	}

	@Test
	void studyAndSeriesAttributesAreAnsweredFromTheImagingStudyWithoutReadingInstances() {
		DicomWebProperties properties = bean(DicomWebProperties.class);
		int saved = properties.getQidoMaxInstanceReads();
		properties.setQidoMaxInstanceReads(0); // any instance read would be refused (400)
		try {
			JsonNode study = qido("studies?StudyInstanceUID=" + ct + "&includefield=all").get(0);
			assertThat(study.at("/00101010/Value/0").asText()).isEqualTo("000Y");
			assertThat(study.at("/00101030/Value/0").asDouble()).isEqualTo(0.0);
			JsonNode series = qido("studies/" + ct + "/series?includefield=all").get(0);
			assertThat(series.at("/00080070/Value/0").asText()).isEqualTo("GE MEDICAL SYSTEMS");
			assertThat(series.at("/00080080/Value/0").asText()).isEqualTo("JFK IMAGING CENTER");
			assertThat(values(qido("studies?" + both + "&Manufacturer=GE*"), "0020000D")).containsExactly(ct);
			assertThat(values(qido("studies?" + both + "&PatientAge=042Y"), "0020000D")).containsExactly(ecg);
			assertThat(values(qido("series?" + both + "&InstitutionName=*Galliera&includefield=00081090"), "0020000D"))
					.containsExactly(ecg);
			// instance attributes are only in the instances
			HttpResponse<byte[]> r = qidoResponse("studies/" + ct + "/instances?includefield=all");
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(400);
		} finally {
			properties.setQidoMaxInstanceReads(saved);
		}
	}

	@Test
	void aQueryThatWouldReadTooManyInstancesIs400NamingTheAttribute() {
		DicomWebProperties properties = bean(DicomWebProperties.class);
		int saved = properties.getQidoMaxInstanceReads();
		properties.setQidoMaxInstanceReads(1);
		try {
			// two CT instances to read for an instance-level key
			HttpResponse<byte[]> r = qidoResponse("studies?StudyInstanceUID=" + ct + "&SliceLocation=-77.2040634155");
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(400);
			assertThat(bodyText(r)).contains("SliceLocation", "qido-max-instance-reads", "PatientID", "StudyInstanceUID");
			r = qidoResponse("studies/" + ct + "/instances?includefield=all");
			assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(400);
			assertThat(bodyText(r)).contains("includefield=all");
			// one series: its first instance is read, within the bound
			assertThat(values(qido("studies?StudyInstanceUID=" + ct + "&Manufacturer=GE*"), "0020000D")).containsExactly(ct);
		} finally {
			properties.setQidoMaxInstanceReads(saved);
		}
	}
}
