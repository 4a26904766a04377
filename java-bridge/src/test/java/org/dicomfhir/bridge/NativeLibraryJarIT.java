package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import org.junit.jupiter.api.Test;

/** Failsafe (integration-test phase): the classes and the library come from the packaged JAR. */
class NativeLibraryJarIT {

    @Test
    void extractsTheLibraryFromThePackagedJar() throws Exception {
        URL resource = NativeLibrary.class.getResource(NativeLibrary.resourcePath());
        assertNotNull(resource, "library missing from the JAR: " + NativeLibrary.resourcePath());
        assertEquals("jar", resource.getProtocol(), "expected to run against the packaged JAR: " + resource);

        byte[] ct = TestData.bytes(TestData.CT_SMALL);
        assertEquals(DicomNativeTest.javaSha256(ct), DicomNative.sha256(ct));
        String from = NativeLibrary.loadedFrom();
        assertTrue(from.startsWith("jar:") && from.endsWith(NativeLibrary.resourcePath()), from);
    }
}
