package org.dicomfhir.bridge;

/**
 * The raw native methods of {@code libdicomfhir_jni} (crate {@code rust/jni}). JSON text crosses
 * the boundary; see {@code docs/architecture.md}, "The native contract". Prefer the typed API
 * ({@link DicomInstance}, {@link DicomStudies}).
 *
 * <p>Failures: {@link DicomException} when the core refuses, whose {@link DicomException#kind()}
 * says whose fault it is (the caller's, a limit, or the server's: a stored instance or study that
 * cannot be read is {@link DicomException.Kind#CORRUPT_STORED});
 * {@link IllegalArgumentException} for malformed JSON arguments or a non-direct buffer;
 * {@link NullPointerException} for a null required argument; any Rust panic becomes an
 * {@link IllegalStateException} whose message starts with {@code "dicom-fhir native panic: "}.
 */
public final class DicomNative {
    static {
        NativeLibrary.load();
    }

    private DicomNative() {}

    /**
     * Parses a DICOM Part-10 instance (the bytes are copied once into native memory).
     *
     * @param data        the whole file
     * @param optionsJson derive options as JSON ({@code null} = defaults)
     * @return the parse result JSON
     */
    public static native String parse(byte[] data, String optionsJson);

    /**
     * Like {@link #parse(byte[], String)}, zero-copy: reads a direct buffer in place. The whole
     * <em>capacity</em> is parsed (JNI sees no position/limit): pass {@code buffer.slice()}. The
     * buffer must not be modified during the call.
     */
    public static native String parseDirect(java.nio.ByteBuffer direct, String optionsJson);

    /** Merges ImagingStudy fragments into an existing ImagingStudy JSON (or a new one when null). */
    public static native String mergeStudy(String existingOrNull, String[] fragments);

    /** Removes instances by SOP Instance UID; {@code null} when no instance is left. */
    public static native String removeInstances(String study, String[] sopUids);

    /** Lowercase hex SHA-256 of the bytes. */
    public static native String sha256(byte[] data);

    /** Version of the native library (the cargo package version). */
    public static native String version();

    /**
     * Validates a QIDO-RS query and returns the FHIR narrowing plan (see {@code rust/core/src/qido/}).
     *
     * @throws DicomException when the query is malformed (answer 400 with its message)
     */
    public static native String qidoPlan(String requestJson);

    /**
     * The QIDO attribute index's tag set: the core's defaults plus {@code extraTagsJson} (a JSON
     * array of keywords or 8-hex-digit tags; null for none), as
     * {@code {"set": "<16 hex digits>", "tags": ["00081010", ...], "maxValueChars": 64}}.
     *
     * @throws DicomException when an entry is no standard attribute matchable by value
     */
    public static native String qidoIndexedTags(String extraTagsJson);

    /**
     * Runs a QIDO-RS query over candidate studies ({@code [{"imagingStudy":..,"patient":..}]}):
     * the answer as UTF-8 bytes in two lines, {@code {"total":n,"remaining":k,"warnings":[..]}},
     * a newline, then the matches (a DICOM JSON array) to send as they are.
     */
    public static native byte[] qidoAnswer(String requestJson, String candidatesJson);

    /**
     * The values of one stored instance a QIDO-RS answer needs, as DICOM JSON: {@code storedJson} is
     * the {@code stored} object of {@link #qidoPlan} (its {@code tags}, or every attribute when
     * {@code all}). Bytes that do not parse are a {@link DicomException} of kind
     * {@link DicomException.Kind#CORRUPT_STORED}.
     */
    public static native String qidoStoredValues(byte[] data, String storedJson);

    /**
     * DICOM JSON (PS3.18 F.2) of a stored Part-10 instance, BulkDataURIs below {@code bulkDataUriBase}.
     * Bytes that do not parse are a {@link DicomException} of kind {@link DicomException.Kind#CORRUPT_STORED}.
     */
    public static native String dicomJson(byte[] data, String bulkDataUriBase);

    /**
     * Default cap on the inflated size of a deflated data set (Deflated Explicit VR Little Endian)
     * for {@link #frames} and {@link #bulkdata}: 256 MiB (the core's {@code DEFAULT_MAX_INFLATED}).
     */
    public static final long DEFAULT_MAX_INFLATED_BYTES = 256L << 20;

    /**
     * WADO-RS frames of a Part-10 instance, without decoding. {@code frameList} is the request's
     * list ({@code "1,3,5"}; malformed: {@link DicomException}, kind INVALID_INPUT; an instance that
     * cannot be read: kind CORRUPT_STORED). Returns
     * {@code {"transferSyntaxUid":..,"numberOfFrames":n,"encapsulated":b,"frames":[[chunk..]|null,..]}},
     * one entry per requested frame in request order, null for a frame the instance lacks; a chunk is
     * {@code [offset,length]} of {@code data} or a base64 string (bytes made for the answer).
     * A deflated data set is inflated in memory up to {@code maxInflatedBytes}; beyond that
     * {@link DicomLimitException}.
     */
    public static native String frames(byte[] data, String frameList, long maxInflatedBytes);

    /** {@link #frames(byte[], String, long)} with {@link #DEFAULT_MAX_INFLATED_BYTES}. */
    public static String frames(byte[] data, String frameList) {
        return frames(data, frameList, DEFAULT_MAX_INFLATED_BYTES);
    }

    /**
     * The value a BulkDataURI tag path names ({@code 7FE00010}, {@code 00540016/0/00181072}):
     * {@code {"vr":..,"parts":[[chunk..],..]}} (one part per frame for encapsulated Pixel Data),
     * or null when the instance has no such element. Chunks and the inflation cap as in
     * {@link #frames(byte[], String, long)}.
     */
    public static native String bulkdata(byte[] data, String tagPath, long maxInflatedBytes);

    /** {@link #bulkdata(byte[], String, long)} with {@link #DEFAULT_MAX_INFLATED_BYTES}. */
    public static String bulkdata(byte[] data, String tagPath) {
        return bulkdata(data, tagPath, DEFAULT_MAX_INFLATED_BYTES);
    }

    /**
     * {@link #frames} of the Part-10 instance stored in the file at {@code path}: only its element
     * headers (and fragment item headers) are read, so a frame of a 200 MB instance costs a few
     * small reads. Chunks are {@code [offset,length]} ranges of the file.
     *
     * @throws java.io.IOException when the file cannot be opened
     */
    public static native String framesOfFile(String path, String frameList, long maxInflatedBytes) throws java.io.IOException;

    /** {@link #framesOfFile(String, String, long)} with {@link #DEFAULT_MAX_INFLATED_BYTES}. */
    public static String framesOfFile(String path, String frameList) throws java.io.IOException {
        return framesOfFile(path, frameList, DEFAULT_MAX_INFLATED_BYTES);
    }

    /** {@link #bulkdata} of the instance stored in the file at {@code path}, reading its headers only. */
    public static native String bulkdataOfFile(String path, String tagPath, long maxInflatedBytes) throws java.io.IOException;

    /** {@link #bulkdataOfFile(String, String, long)} with {@link #DEFAULT_MAX_INFLATED_BYTES}. */
    public static String bulkdataOfFile(String path, String tagPath) throws java.io.IOException {
        return bulkdataOfFile(path, tagPath, DEFAULT_MAX_INFLATED_BYTES);
    }

    /**
     * What the core knows of one transfer syntax (WADO-RS negotiation):
     * {@code {"uid":..,"native":b,"servedAs":..,"mediaType":..|null}} (see {@link TransferSyntax}).
     */
    public static native String transferSyntax(String uid);

    /**
     * The core's constants, read once by {@link CoreConstants}: {@code {"explicitVrLittleEndian":..,
     * "extensions":{"instanceBinary":..,"instanceAttributes":..,"dicomAttributes":..},
     * "stowFailureReasons":{"processingFailure":272,..}}}.
     */
    public static native String constants();

    /**
     * The STOW-RS response of a request's outcome ({@code dicom_fhir_core::stow_response}):
     * {@code {"serviceBase":..,"studyUid":..|null,"stored":[{"sopClassUid","sopInstanceUid",
     * "studyInstanceUid","seriesInstanceUid"}..],"failures":[{"sopClassUid"?,"sopInstanceUid"?,
     * "reason":"processingFailure"|"invalid"|..,"message"?}..]}} in,
     * {@code {"status":200|202|409,"body":{DICOM JSON}}} out.
     */
    public static native String stowResponse(String outcomeJson);

    /**
     * Frame {@code frameNumber} (1-based) of a stored instance rendered as an image (PS3.18
     * rendered resource). {@code queryJson}: the PS3.18 parameters as text, each optional,
     * {@code {"mediaType":"image/jpeg"|"image/png","window":"center,width[,function]",
     * "viewport":"vw,vh","quality":"1..100"}}. A bad parameter or frame number is a
     * {@link DicomException} of kind INVALID_INPUT; pixel data the core cannot decode, or a media
     * type it does not produce, one of kind UNSUPPORTED (the message says why).
     */
    public static native byte[] render(byte[] data, int frameNumber, String queryJson);

    /**
     * A thumbnail of frame 1 (longest side 128 px, never enlarged; default window; no
     * annotation) in {@code mediaType} ({@code image/jpeg} when null). Errors as {@link #render}.
     */
    public static native byte[] thumbnail(byte[] data, String mediaType);

    /**
     * The stored instance in Explicit VR Little Endian with its pixel data decoded (WADO-RS
     * transcoding; a native instance is only re-encoded): a Part-10 file, same SOP Instance UID,
     * every attribute kept but those the decoded pixels change. Pixel data the core cannot decode
     * is a {@link DicomException} of kind UNSUPPORTED (the message says why); a decoded size beyond
     * {@code maxDecodedBytes} a {@link DicomLimitException}, raised before anything is decoded.
     */
    public static native byte[] transcode(byte[] data, long maxDecodedBytes);

    /**
     * Throws what {@link #transcode} would throw without decoding anything (a header read): for
     * a multi-instance answer that is refused as a whole before its first byte. A corrupt
     * codestream passes and fails in {@link #transcode}.
     */
    public static native void transcodeCheck(byte[] data, long maxDecodedBytes);

    /**
     * Frames {@code frameList} ({@code "1,3"}: 1-based, each once) of a stored instance with
     * encapsulated pixel data, decoded as Explicit VR Little Endian frames, one after the other:
     * every frame has the same length (the result's length divided by the number of frames).
     * Errors as {@link #transcode}; a frame that does not exist is INVALID_INPUT.
     */
    public static native byte[] transcodeFrames(byte[] data, String frameList, long maxDecodedBytes);

    /**
     * Panics inside Rust (with a formatted {@code String} payload). For tests only: proves that a
     * panic becomes an {@link IllegalStateException} and the JVM carries on.
     */
    static native void panicForTest();
}
