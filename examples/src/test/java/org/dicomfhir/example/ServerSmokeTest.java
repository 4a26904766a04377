package org.dicomfhir.example;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Patient;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The example server itself works: CRUD over HTTP, filesystem binary storage, $validate. */
class ServerSmokeTest extends AbstractServerTest {

	@Test
	void restfulServerIsASpringBean() {
		assertThat(bean(RestfulServer.class)).isNotNull();
		assertThat(getJson("metadata").statusCode()).isEqualTo(200);
	}

	@Test
	void createAndReadPatient() {
		String family = "Smoke-" + UUID.randomUUID();
		Patient patient = new Patient();
		patient.addName().setFamily(family).addGiven("Test");

		HttpResponse<byte[]> created = postResource("Patient", patient);
		assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
		String id = location(created);
		assertThat(id).startsWith("Patient/");

		HttpResponse<byte[]> read = getJson(id);
		assertThat(read.statusCode()).isEqualTo(200);
		assertThat(parse(Patient.class, read).getNameFirstRep().getFamily()).isEqualTo(family);

		Patient viaClient = client().read().resource(Patient.class).withUrl(id).execute();
		assertThat(viaClient.getNameFirstRep().getFamily()).isEqualTo(family);
	}

	@Test
	void nonDicomBinaryRoundTripsByteIdenticalThroughFilesystemStorage() throws IOException {
		byte[] content = ("plain text, not DICOM\n" + UUID.randomUUID() + "\n\u00e9\u00e8\u00ea\n")
				.getBytes(StandardCharsets.UTF_8);

		HttpResponse<byte[]> created = post("Binary", "text/plain", content);
		assertThat(created.statusCode()).as(bodyText(created)).isEqualTo(201);
		String id = location(created);
		assertThat(id).startsWith("Binary/");

		// No Accept header: HAPI answers a Binary read with the raw content.
		HttpResponse<byte[]> read = get(id, null);
		assertThat(read.statusCode()).isEqualTo(200);
		assertThat(read.headers().firstValue("Content-Type")).hasValueSatisfying(ct -> assertThat(ct)
				.startsWith("text/plain"));
		assertThat(read.body()).isEqualTo(content);

		// ... and the bytes were externalized to the filesystem binary store.
		String prefix = "Binary_" + id.substring("Binary/".length()) + "_";
		try (Stream<Path> files = Files.walk(binstoreDir())) {
			List<Path> stored = files.filter(p -> p.getFileName().toString().startsWith(prefix)
							&& p.getFileName().toString().endsWith(".bin"))
					.toList();
			assertThat(stored).hasSize(1);
			assertThat(Files.readAllBytes(stored.get(0))).isEqualTo(content);
		}
	}

	@Test
	void validateReturnsOperationOutcome() {
		Patient patient = new Patient();
		patient.addName().setFamily("Valid");

		HttpResponse<byte[]> response = postResource("Patient/$validate", patient);
		assertThat(response.statusCode()).as(bodyText(response)).isEqualTo(200);
		OperationOutcome outcome = parse(OperationOutcome.class, response);
		assertThat(outcome.getIssue())
				.noneMatch(issue -> issue.getSeverity() == OperationOutcome.IssueSeverity.ERROR
						|| issue.getSeverity() == OperationOutcome.IssueSeverity.FATAL);
	}
}
