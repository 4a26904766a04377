package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * The JAR in a class loader of its own, as when it sits in a Spring Boot {@code loader.path}
 * directory or inside the shaded HAPI plugin: the library is found through the class (not the
 * system class loader), and exceptions thrown from Rust are that loader's classes even though the
 * thread context class loader (the test's) has another copy of them.
 */
class IsolatedClassLoaderIT {

    @Test
    void loadsAndThrowsThroughItsOwnClassLoader() throws Throwable {
        // The application class loader loads its copy first: one JVM, two class loaders, two
        // extracted copies of the library (a native library binds to one class loader only).
        assertEquals("0.1.0", DicomNative.version());
        Path jar = Paths.get(System.getProperty("dicomfhir.bridgeJar"));
        assertTrue(Files.isRegularFile(jar), jar.toString());
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader())) {
            Class<?> nativeClass = Class.forName("org.dicomfhir.bridge.DicomNative", true, loader);
            assertSame(loader, nativeClass.getClassLoader());
            assertNotSame(DicomNative.class, nativeClass);

            Method sha256 = nativeClass.getMethod("sha256", byte[].class);
            byte[] ct = TestData.bytes(TestData.CT_SMALL);
            assertEquals(DicomNativeTest.javaSha256(ct), sha256.invoke(null, (Object) ct));

            String from = (String) loader.loadClass("org.dicomfhir.bridge.NativeLibrary").getMethod("loadedFrom").invoke(null);
            assertTrue(from.startsWith("jar:file:") && from.contains(jar.getFileName().toString()), from);

            Method parse = nativeClass.getMethod("parse", byte[].class, String.class);
            Throwable thrown = null;
            try {
                parse.invoke(null, new byte[] {1, 2, 3}, null);
            } catch (InvocationTargetException e) {
                thrown = e.getCause();
            }
            Class<?> isolatedException = loader.loadClass("org.dicomfhir.bridge.DicomException");
            assertNotSame(DicomException.class, isolatedException);
            assertSame(isolatedException, thrown == null ? null : thrown.getClass(), String.valueOf(thrown));

            Method panic = nativeClass.getDeclaredMethod("panicForTest");
            panic.setAccessible(true);
            try {
                panic.invoke(null);
            } catch (InvocationTargetException e) {
                thrown = e.getCause();
            }
            assertSame(IllegalStateException.class, thrown.getClass());
            assertEquals(DicomNativeTest.javaSha256(ct), sha256.invoke(null, (Object) ct));
        }
    }
}
