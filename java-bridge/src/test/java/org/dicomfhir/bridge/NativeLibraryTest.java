package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** Surefire: the library comes from target/classes through the resource path, not java.library.path. */
class NativeLibraryTest {

    @Test
    void loadsThroughTheResourcePathWhenNotOnJavaLibraryPath() {
        String mapped = System.mapLibraryName(NativeLibrary.NAME);
        for (String dir : System.getProperty("java.library.path", "").split(File.pathSeparator)) {
            assertFalse(!dir.isEmpty() && Files.exists(Paths.get(dir, mapped)),
                    "test setup: " + mapped + " must not be on java.library.path (" + dir + ")");
        }
        assertNotNull(DicomNative.version()); // triggers the load
        String from = NativeLibrary.loadedFrom();
        assertNotNull(from);
        assertTrue(from.endsWith("/native/" + NativeLibrary.classifier() + "/" + mapped), from);
        // idempotent
        NativeLibrary.load();
        assertEquals(from, NativeLibrary.loadedFrom());
    }

    @Test
    void classifierNames() {
        assertEquals("linux", NativeLibrary.os("Linux"));
        assertEquals("osx", NativeLibrary.os("Mac OS X"));
        assertEquals("windows", NativeLibrary.os("Windows 11"));
        assertEquals("x86_64", NativeLibrary.arch("amd64"));
        assertEquals("x86_64", NativeLibrary.arch("x86_64"));
        assertEquals("aarch_64", NativeLibrary.arch("aarch64"));
        assertEquals("linux-x86_64", NativeLibrary.os("Linux") + "-" + NativeLibrary.arch("amd64"));
    }
}
