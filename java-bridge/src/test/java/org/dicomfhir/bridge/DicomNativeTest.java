package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.ArrayList;
import org.junit.jupiter.api.Test;

/** The JNI layer itself: hashing, error mapping, panics. Independent of the core's parse/merge bodies. */
class DicomNativeTest {

    static String javaSha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    @Test
    void version() {
        assertEquals("0.1.0", DicomNative.version());
    }

    @Test
    void sha256MatchesMessageDigest() throws Exception {
        byte[] ct = TestData.bytes(TestData.CT_SMALL);
        assertEquals(javaSha256(ct), DicomNative.sha256(ct));
        byte[] big = TestData.bytes(TestData.RG1_UNCR);
        assertEquals(javaSha256(big), DicomNative.sha256(big));
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", DicomNative.sha256(new byte[0]));
    }

    @Test
    void garbageIsADicomExceptionWithAMessage() {
        byte[] garbage = "this is certainly not a DICOM Part-10 file".repeat(20).getBytes();
        DicomException e = assertThrows(DicomException.class, () -> DicomNative.parse(garbage, null));
        assertFalse(e.getMessage() == null || e.getMessage().isBlank(), "message expected");
        assertEquals(DicomException.Kind.INVALID_INPUT, e.kind());
        assertThrows(DicomException.class, () -> DicomNative.parse(new byte[0], null));
        assertThrows(DicomException.class, () -> DicomInstance.parse(garbage, DeriveOptions.DEFAULTS));
        ByteBuffer direct = ByteBuffer.allocateDirect(garbage.length).put(garbage).flip();
        assertThrows(DicomException.class, () -> DicomNative.parseDirect(direct, null));
    }

    /** The file variants answer exactly as the byte[] ones; a file that cannot be opened is an IOException. */
    @Test
    void framesAndBulkDataOfAFileEqualThoseOfItsBytes() throws Exception {
        for (String name : List.of(TestData.CT_SMALL, TestData.RG1_UNCR)) {
            String path = TestData.file(name).toString();
            byte[] bytes = TestData.bytes(name);
            assertEquals(DicomNative.frames(bytes, "1"), DicomNative.framesOfFile(path, "1"), name);
            assertEquals(DicomNative.frames(bytes, "1,2"), DicomNative.framesOfFile(path, "1,2"), name);
            assertEquals(DicomNative.bulkdata(bytes, "7FE00010"), DicomNative.bulkdataOfFile(path, "7FE00010"), name);
        }
        java.io.IOException missing = assertThrows(java.io.IOException.class,
                () -> DicomNative.framesOfFile("/nonexistent/dicom-fhir/x.dcm", "1"));
        assertTrue(missing.getMessage().contains("/nonexistent/dicom-fhir/x.dcm"), missing.getMessage());
        assertThrows(DicomException.class, () -> DicomNative.framesOfFile(TestData.file(TestData.CT_SMALL).toString(), "0"));
        assertThrows(NullPointerException.class, () -> DicomNative.bulkdataOfFile(null, "7FE00010"));
    }

    /**
     * Transcoding: a JPEG 2000 lossless instance decodes to emri_small's native pixels; what cannot
     * be decoded is UNSUPPORTED, a decoded size beyond the cap a DicomLimitException.
     */
    @Test
    void transcodingKindsAndFrames() throws Exception {
        byte[] j2k = TestData.bytes("pydicom-data/emri_small_jpeg_2k_lossless.dcm");
        byte[] emri = TestData.bytes("pydicom-data/emri_small.dcm");
        int frame = 64 * 64 * 2;
        byte[] out = DicomNative.transcode(j2k, DicomNative.DEFAULT_MAX_INFLATED_BYTES);
        assertEquals(ByteBuffer.wrap(emri, emri.length - 10 * frame, 10 * frame), ByteBuffer.wrap(out, out.length - 10 * frame, 10 * frame));
        byte[] frames = DicomNative.transcodeFrames(j2k, "3,1", DicomNative.DEFAULT_MAX_INFLATED_BYTES);
        assertEquals(2 * frame, frames.length);
        assertEquals(ByteBuffer.wrap(emri, emri.length - 8 * frame, frame), ByteBuffer.wrap(frames, 0, frame));
        DicomNative.transcodeCheck(j2k, DicomNative.DEFAULT_MAX_INFLATED_BYTES);
        assertThrows(DicomLimitException.class, () -> DicomNative.transcode(j2k, 9L * frame));
        assertThrows(DicomLimitException.class, () -> DicomNative.transcodeCheck(j2k, 9L * frame));
        // 12-bit lossy JPEG decodes (libjpeg-turbo in the core): 1024 x 256 samples of 16 bits
        byte[] jpgExtended = TestData.bytes("pydicom/JPGExtended.dcm");
        assertEquals(1024 * 256 * 2, DicomNative.transcodeFrames(jpgExtended, "1", DicomNative.DEFAULT_MAX_INFLATED_BYTES).length);
        // JPEG-lossy.dcm: a 12-bit codestream no decoder takes (pylibjpeg neither)
        byte[] corrupt = TestData.bytes("pydicom/JPEG-lossy.dcm");
        DicomException e = assertThrows(DicomException.class, () -> DicomNative.transcode(corrupt, DicomNative.DEFAULT_MAX_INFLATED_BYTES));
        assertEquals(DicomException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("12-bit"), e.getMessage());
        assertEquals(DicomException.Kind.INVALID_INPUT,
                assertThrows(DicomException.class, () -> DicomNative.transcodeFrames(j2k, "11", DicomNative.DEFAULT_MAX_INFLATED_BYTES)).kind());
    }

    /** A deflated data set inflating beyond the caller's cap is a DicomLimitException (a DicomException). */
    @Test
    void inflatingBeyondTheCapIsADicomLimitException() throws Exception {
        String name = "pydicom/image_dfl.dcm";
        String path = TestData.file(name).toString();
        byte[] bytes = TestData.bytes(name);
        assertEquals(DicomNative.frames(bytes, "1"), DicomNative.frames(bytes, "1", DicomNative.DEFAULT_MAX_INFLATED_BYTES));
        DicomLimitException e = assertThrows(DicomLimitException.class, () -> DicomNative.frames(bytes, "1", 1000));
        assertTrue(e.getMessage().contains("1000"), e.getMessage());
        assertThrows(DicomLimitException.class, () -> DicomNative.bulkdata(bytes, "7FE00010", 1000));
        assertThrows(DicomLimitException.class, () -> DicomNative.framesOfFile(path, "1", 1000));
        assertThrows(DicomLimitException.class, () -> DicomNative.bulkdataOfFile(path, "7FE00010", 1000));
        // bad input stays a plain DicomException
        DicomException bad = assertThrows(DicomException.class, () -> DicomNative.frames(bytes, "0", 1000));
        assertFalse(bad instanceof DicomLimitException);
        assertEquals(DicomException.Kind.INVALID_INPUT, bad.kind());
        assertEquals(DicomException.Kind.LIMIT_EXCEEDED, e.kind());
    }

    /** Frames, bulk data and DICOM JSON read stored instances: one that cannot be read is CORRUPT_STORED (a 5xx). */
    @Test
    void anUnreadableStoredInstanceIsCorruptStored() {
        byte[] garbage = "this is certainly not a DICOM Part-10 file".repeat(20).getBytes();
        for (org.junit.jupiter.api.function.Executable call : List.<org.junit.jupiter.api.function.Executable>of(
                () -> DicomNative.frames(garbage, "1"),
                () -> DicomNative.bulkdata(garbage, "7FE00010"),
                () -> DicomNative.dicomJson(garbage, ""))) {
            DicomException e = assertThrows(DicomException.class, call);
            assertEquals(DicomException.Kind.CORRUPT_STORED, e.kind(), e.getMessage());
            assertTrue(e.kind().isServerFault());
        }
    }

    @Test
    void argumentErrors() {
        assertThrows(NullPointerException.class, () -> DicomNative.sha256(null));
        assertThrows(NullPointerException.class, () -> DicomNative.parse(null, null));
        assertThrows(NullPointerException.class, () -> DicomNative.removeInstances(null, new String[0]));
        assertThrows(NullPointerException.class, () -> DicomNative.mergeStudy(null, null));
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> DicomNative.parse(new byte[10], "{not json"));
        assertTrue(bad.getMessage().contains("optionsJson"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DicomNative.parse(new byte[10], "{\"defaultTimezone\": 5}"));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.parseDirect(ByteBuffer.allocate(10), null));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.mergeStudy("{", new String[] {"{}"}));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.mergeStudy(null, new String[] {"[oops"}));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.mergeStudy(null, new String[] {null}));
        assertThrows(IllegalArgumentException.class, () -> DicomNative.removeInstances("nope", new String[] {"1.2"}));
    }

    @Test
    void panicBecomesIllegalStateExceptionAndTheJvmCarriesOn() throws Exception {
        for (int i = 0; i < 3; i++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, DicomNative::panicForTest);
            assertEquals("dicom-fhir native panic: panicForTest: deliberate panic", e.getMessage());
        }
        byte[] ct = TestData.bytes(TestData.CT_SMALL);
        assertEquals(javaSha256(ct), DicomNative.sha256(ct));
        assertEquals("0.1.0", DicomNative.version());
    }

    @Test
    void concurrentCalls() throws Exception {
        byte[] ct = TestData.bytes(TestData.CT_SMALL);
        String expected = javaSha256(ct);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    if (n % 10 == 0) {
                        assertThrows(IllegalStateException.class, DicomNative::panicForTest);
                    }
                    return DicomNative.sha256(ct);
                }));
            }
            for (Future<String> f : results) {
                assertEquals(expected, f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
