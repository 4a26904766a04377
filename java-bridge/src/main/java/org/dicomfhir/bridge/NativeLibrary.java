package org.dicomfhir.bridge;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the {@code dicomfhir_jni} native library once per class loader.
 *
 * <ol>
 *   <li>{@code System.loadLibrary("dicomfhir_jni")}, i.e. {@code -Djava.library.path};</li>
 *   <li>otherwise the resource {@code /native/<classifier>/<System.mapLibraryName>} next to this
 *       class (looked up through this class, so it works from any class loader: a Spring Boot
 *       {@code loader.path} directory, a shaded plugin JAR, a plain classpath), copied to a temp
 *       file and {@code System.load}ed.</li>
 * </ol>
 *
 * <p>System properties: {@code dicomfhir.native.tmpdir} (where to extract; default
 * {@code java.io.tmpdir}, which must not be mounted {@code noexec}).
 */
public final class NativeLibrary {
    /** Base name of the library ({@code libdicomfhir_jni.so} on Linux). */
    public static final String NAME = "dicomfhir_jni";

    private static final Object LOCK = new Object();
    private static volatile String loadedFrom;
    private static UnsatisfiedLinkError failure;

    private NativeLibrary() {}

    /**
     * Loads the library if not done yet; thread-safe and idempotent. A failure is remembered and
     * rethrown on every later call.
     *
     * @throws UnsatisfiedLinkError when the platform is unsupported or the library cannot be loaded
     */
    public static void load() {
        if (loadedFrom != null) {
            return;
        }
        synchronized (LOCK) {
            if (loadedFrom != null) {
                return;
            }
            if (failure != null) {
                throw copy(failure);
            }
            try {
                loadedFrom = doLoad();
            } catch (UnsatisfiedLinkError e) {
                failure = e;
                throw copy(e);
            }
        }
    }

    /**
     * Where the library came from: {@code "java.library.path"} or the resource URL it was
     * extracted from; {@code null} before {@link #load()}.
     */
    public static String loadedFrom() {
        return loadedFrom;
    }

    /**
     * Platform classifier, as used in the JAR ({@code /native/<classifier>/}):
     * {@code linux-x86_64}, {@code linux-aarch_64}, {@code osx-x86_64}, {@code osx-aarch_64},
     * {@code windows-x86_64}; other platforms give e.g. {@code sunos-sparcv9}.
     */
    public static String classifier() {
        return os(System.getProperty("os.name", "")) + "-" + arch(System.getProperty("os.arch", ""));
    }

    static String os(String osName) {
        String n = osName.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "");
        if (n.startsWith("linux")) return "linux";
        if (n.startsWith("macosx") || n.startsWith("osx") || n.startsWith("darwin")) return "osx";
        if (n.startsWith("windows")) return "windows";
        if (n.startsWith("freebsd")) return "freebsd";
        return n.isEmpty() ? "unknown" : n;
    }

    static String arch(String osArch) {
        String a = osArch.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]+", "");
        switch (a) {
            case "amd64": case "x8664": case "x86_64": case "x64": return "x86_64";
            case "aarch64": case "arm64": return "aarch_64";
            default: return a.isEmpty() ? "unknown" : a;
        }
    }

    /** Resource path of the library for this platform. */
    static String resourcePath() {
        return "/native/" + classifier() + "/" + System.mapLibraryName(NAME);
    }

    private static String doLoad() {
        UnsatisfiedLinkError fromLibraryPath;
        try {
            System.loadLibrary(NAME);
            return "java.library.path";
        } catch (UnsatisfiedLinkError e) {
            fromLibraryPath = e;
        }
        String resource = resourcePath();
        URL url = NativeLibrary.class.getResource(resource);
        if (url == null) {
            UnsatisfiedLinkError e = new UnsatisfiedLinkError(
                    "dicom-fhir native library " + NAME + " is not available for platform classifier '"
                            + classifier() + "' (os.name=" + System.getProperty("os.name") + ", os.arch="
                            + System.getProperty("os.arch") + "): not on java.library.path and no resource "
                            + resource + " in the dicom-fhir-bridge JAR (this build ships only the"
                            + " classifier it was built on, e.g. linux-x86_64)");
            e.addSuppressed(fromLibraryPath);
            throw e;
        }
        Path file = null;
        try {
            file = extract(url);
            System.load(file.toAbsolutePath().toString());
        } catch (IOException | RuntimeException e) {
            UnsatisfiedLinkError ule = new UnsatisfiedLinkError(
                    "dicom-fhir: cannot extract/load " + url + " (classifier " + classifier() + "): " + e);
            ule.initCause(e);
            throw ule;
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError ule = new UnsatisfiedLinkError(
                    "dicom-fhir: cannot load " + url + " extracted to " + file + " (classifier "
                            + classifier() + "): " + e.getMessage());
            ule.initCause(e);
            throw ule;
        } finally {
            // Once mapped the file is no longer needed on Unix: delete it now so a killed JVM leaves
            // nothing behind (Windows keeps it locked: deleteOnExit, set in extract, covers that).
            if (file != null && !isWindows()) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // deleteOnExit remains
                }
            }
        }
        return url.toString();
    }

    private static Path extract(URL url) throws IOException {
        String dir = System.getProperty("dicomfhir.native.tmpdir");
        Path tmpDir = dir == null || dir.isBlank() ? Paths.get(System.getProperty("java.io.tmpdir")) : Paths.get(dir);
        Files.createDirectories(tmpDir);
        String mapped = System.mapLibraryName(NAME);
        int dot = mapped.lastIndexOf('.');
        Path file = Files.createTempFile(tmpDir, mapped.substring(0, dot) + "-", mapped.substring(dot));
        file.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }

    private static boolean isWindows() {
        return "windows".equals(os(System.getProperty("os.name", "")));
    }

    private static UnsatisfiedLinkError copy(UnsatisfiedLinkError e) {
        UnsatisfiedLinkError c = new UnsatisfiedLinkError(e.getMessage());
        c.initCause(e);
        return c;
    }
}
