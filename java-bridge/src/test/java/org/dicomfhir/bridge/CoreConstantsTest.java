package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** The facts Java reads from the core: transfer syntaxes, extension URLs, STOW-RS reasons and response. */
class CoreConstantsTest {

    @Test
    void transferSyntaxesComeFromTheCore() {
        assertEquals("1.2.840.10008.1.2.1", TransferSyntax.EXPLICIT_VR_LITTLE_ENDIAN);
        TransferSyntax implicit = TransferSyntax.of("1.2.840.10008.1.2");
        assertTrue(implicit.nativeEncoding());
        assertEquals("1.2.840.10008.1.2.1", implicit.servedAs());
        assertNull(implicit.mediaType());
        TransferSyntax jpeg = TransferSyntax.of("1.2.840.10008.1.2.4.50");
        assertFalse(jpeg.nativeEncoding());
        assertEquals("1.2.840.10008.1.2.4.50", jpeg.servedAs());
        assertEquals("image/jpeg", jpeg.mediaType());
        assertEquals("image/dicom-rle", TransferSyntax.of("1.2.840.10008.1.2.5").mediaType());
        assertThrows(NullPointerException.class, () -> TransferSyntax.of(null));
    }

    @Test
    void extensionUrlsAndFailureReasons() {
        assertEquals("http://dicomfhir.org/fhir/StructureDefinition/instance-binary", CoreConstants.EXT_INSTANCE_BINARY);
        assertEquals("http://dicomfhir.org/fhir/StructureDefinition/instance-attributes", CoreConstants.EXT_INSTANCE_ATTRIBUTES);
        assertEquals("http://dicomfhir.org/fhir/StructureDefinition/dicom-attributes", CoreConstants.EXT_DICOM_ATTRIBUTES);
        assertEquals(0xC409, CoreConstants.stowFailureReason("patientConflict"));
        assertEquals(0xB00E, CoreConstants.stowFailureReason("duplicateDifferent"));
        assertThrows(IllegalArgumentException.class, () -> CoreConstants.stowFailureReason("nope"));
    }

    @Test
    void stowResponse() {
        JsonNode r = Json.read(DicomNative.stowResponse("{\"serviceBase\":\"http://h\",\"studyUid\":\"1.2\","
                + "\"stored\":[],\"failures\":[{\"reason\":\"invalid\",\"message\":\"bad\"}]}"));
        assertEquals(409, r.path("status").asInt());
        assertEquals("http://h/studies/1.2", r.at("/body/00081190/Value/0").asText());
        assertEquals(0xA900, r.at("/body/00081198/Value/0/00081197/Value/0").asInt());
        assertThrows(DicomException.class, () -> DicomNative.stowResponse("{\"failures\":[{\"reason\":\"nope\"}]}"));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.stowResponse("not json"));
    }
}
