package org.dicomfhir.example;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A stored instance whose bytes no longer parse is the server's fault, not the client's: WADO-RS
 * frames answer 500 with a message saying the stored data cannot be read (the core's error kind
 * CORRUPT_STORED), while a malformed request on the same instance stays a 400.
 */
class DicomWebCorruptStoredTest extends AbstractServerTest {

	@Test
	void aCorruptStoredInstanceIsA5xxAndABadRequestStaysA4xx() throws IOException {
		StoredCt ct = storeCt();
		String instance = ct.instance();

		Files.write(blobFileHolding(ct.bytes()), "this is not a DICOM Part-10 file any more".repeat(10).getBytes());

		HttpResponse<byte[]> frames = get(instance + "/frames/1", "*/*");
		assertThat(frames.statusCode()).as(bodyText(frames)).isEqualTo(500);
		assertThat(bodyText(frames)).contains("Stored data cannot be read");
		HttpResponse<byte[]> bad = get(instance + "/frames/0", "*/*");
		assertThat(bad.statusCode()).as(bodyText(bad)).isBetween(400, 499);
	}
}
