package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * parse / mergeStudy / removeInstances against docs/architecture.md, on real files. These need the
 * core's bodies (rust/core); while it answers "not implemented yet" they fail.
 */
class ParseContractTest {
    static final DeriveOptions OPTIONS = DeriveOptions.DEFAULTS.withPatientIdentifierSystem("urn:dicom:patient-id");

    /** Parses a test file, checking what every parse gives: the bytes' SHA-256 and size, the SOP Instance UID. */
    private static DicomInstance parsed(String theFile, String theSopInstanceUid) throws Exception {
        byte[] data = TestData.bytes(theFile);
        DicomInstance i = DicomInstance.parse(data, OPTIONS);
        assertEquals(DicomNativeTest.javaSha256(data), i.sha256());
        assertEquals(data.length, i.size());
        assertEquals(theSopInstanceUid, i.sopInstanceUid());
        return i;
    }

    @Test
    void parseCtSmall() throws Exception {
        DicomInstance i = parsed(TestData.CT_SMALL, TestData.CT_SMALL_SOP_UID);
        assertEquals("1.3.6.1.4.1.5962.1.2.1.20040119072730.12322", i.studyInstanceUid());
        assertEquals("1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322", i.seriesInstanceUid());
        assertEquals("1.2.840.10008.5.1.4.1.1.2", i.sopClassUid());
        assertEquals("1.2.840.10008.1.2.1", i.transferSyntaxUid());
        assertEquals("urn:dicom:patient-id", i.patientIdentifierSystem());
        assertEquals("1CT1", i.patientIdentifierValue());
        assertNotNull(i.warnings());

        JsonNode study = Json.read(i.imagingStudyJson());
        assertEquals("ImagingStudy", study.path("resourceType").asText());
        assertEquals("urn:oid:" + i.studyInstanceUid(), study.path("identifier").path(0).path("value").asText());
        JsonNode instance = study.path("series").path(0).path("instance").path(0);
        assertEquals(TestData.CT_SMALL_SOP_UID, instance.path("uid").asText());
        assertEquals("Patient", Json.read(i.patientJson()).path("resourceType").asText());
    }

    @Test
    void directBufferGivesTheSameResult() throws Exception {
        for (String f : List.of(TestData.CT_SMALL, TestData.RG1_UNCR)) {
            byte[] data = TestData.bytes(f);
            String viaArray = DicomNative.parse(data, OPTIONS.toJson());
            ByteBuffer direct = ByteBuffer.allocateDirect(data.length).put(data).flip();
            assertEquals(viaArray, DicomNative.parseDirect(direct, OPTIONS.toJson()), f);
            // a MappedByteBuffer is direct: zero-copy from a spooled file
            try (FileChannel ch = FileChannel.open(TestData.file(f), StandardOpenOption.READ)) {
                ByteBuffer mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
                assertEquals(DicomInstance.fromJson(viaArray), DicomInstance.parse(mapped, OPTIONS), f);
            }
            // position/limit of a direct buffer are honoured by the typed API (slice)
            ByteBuffer padded = ByteBuffer.allocateDirect(data.length + 20);
            padded.position(7);
            padded.put(data);
            padded.position(7).limit(7 + data.length);
            assertEquals(DicomInstance.fromJson(viaArray), DicomInstance.parse(padded, OPTIONS), f);
            assertEquals(7, padded.position());
        }
    }

    @Test
    void parseRg1Uncr() throws Exception {
        DicomInstance i = parsed(TestData.RG1_UNCR, "1.3.6.1.4.1.5962.1.1.9.1.1.20040826185059.5457");
        assertEquals("9RG1", i.patientIdentifierValue());
    }

    @Test
    void truncatedAndMetaLessInputIsRejected() {
        byte[] ct = TestData.bytes(TestData.CT_SMALL);
        DicomException e = assertThrows(DicomException.class,
                () -> DicomInstance.parse(Arrays.copyOf(ct, 1000), OPTIONS));
        assertFalse(e.getMessage().contains("not implemented"), e.getMessage());
        assertThrows(DicomException.class, () -> DicomInstance.parse(TestData.bytes("pydicom/no_meta.dcm"), OPTIONS));
    }

    @Test
    void mergeAndRemove() {
        DicomInstance ct = DicomInstance.parse(TestData.bytes(TestData.CT_SMALL), OPTIONS);
        DicomInstance rg = DicomInstance.parse(TestData.bytes(TestData.RG1_UNCR), OPTIONS);

        String study = DicomStudies.merge(null, List.of(ct.imagingStudyJson()));
        JsonNode s = Json.read(study);
        assertEquals(1, s.path("numberOfSeries").asInt());
        assertEquals(1, s.path("numberOfInstances").asInt());
        // idempotent
        assertEquals(Json.read(study), Json.read(DicomStudies.merge(study, List.of(ct.imagingStudyJson()))));

        // a fragment of another study is refused
        DicomException other = assertThrows(DicomException.class,
                () -> DicomStudies.merge(study, List.of(rg.imagingStudyJson())));
        assertTrue(other.getMessage().contains(rg.studyInstanceUid()), other.getMessage());

        Optional<String> left = DicomStudies.removeInstances(study, Set.of(TestData.CT_SMALL_SOP_UID));
        assertTrue(left.isEmpty(), "nothing left -> empty");
        Optional<String> unchanged = DicomStudies.removeInstances(study, Set.of("1.2.3.4"));
        assertEquals(1, Json.read(unchanged.orElseThrow()).path("numberOfInstances").asInt());
    }
}
