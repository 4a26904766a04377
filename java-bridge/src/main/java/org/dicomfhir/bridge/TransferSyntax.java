package org.dicomfhir.bridge;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Objects;

/**
 * What the Rust core ({@code rust/core/src/transfer_syntax.rs}) knows of one transfer syntax; Java
 * declares no transfer syntax UID of its own.
 *
 * @param uid       the transfer syntax UID asked about
 * @param nativeEncoding whether it is native (uncompressed)
 * @param servedAs  the transfer syntax its pixel data are served in (Explicit VR Little Endian for
 *                  a native one, itself otherwise)
 * @param mediaType the media type of its frames when encapsulated ({@code image/jpeg}, ...), or
 *                  {@code null}
 */
public record TransferSyntax(String uid, boolean nativeEncoding, String servedAs, String mediaType) {

    /** Explicit VR Little Endian: what native pixel data and plain bulk data are served as. */
    public static final String EXPLICIT_VR_LITTLE_ENDIAN = CoreConstants.text("/explicitVrLittleEndian");

    /** Asks the core about {@code uid}. */
    public static TransferSyntax of(String uid) {
        Objects.requireNonNull(uid, "uid");
        JsonNode n = Json.read(DicomNative.transferSyntax(uid));
        JsonNode media = n.path("mediaType");
        return new TransferSyntax(n.path("uid").asText(), n.path("native").asBoolean(),
                n.path("servedAs").asText(), media.isTextual() ? media.asText() : null);
    }
}
