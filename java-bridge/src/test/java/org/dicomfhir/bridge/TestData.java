package org.dicomfhir.bridge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Real DICOM files from {@code <repo>/.data} (run {@code scripts/fetch-test-data.sh} first). */
final class TestData {
    static final String CT_SMALL = "pydicom/CT_small.dcm";
    static final String RG1_UNCR = "pydicom-data/RG1_UNCR.dcm";
    static final String CT_SMALL_SOP_UID = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";

    private TestData() {}

    /** Walks up from the working directory (the module dir under Maven) to the repository root. */
    static Path repoRoot() {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("scripts/fetch-test-data.sh")) && Files.isRegularFile(p.resolve("Cargo.toml"))) {
                return p;
            }
        }
        throw new IllegalStateException("repository root not found above " + Paths.get("").toAbsolutePath());
    }

    static Path file(String relative) {
        Path p = repoRoot().resolve(".data").resolve(relative);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p + " missing: run scripts/fetch-test-data.sh in the repository root");
        }
        return p;
    }

    static byte[] bytes(String relative) {
        try {
            return Files.readAllBytes(file(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
