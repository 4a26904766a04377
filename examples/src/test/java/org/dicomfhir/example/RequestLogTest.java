package org.dicomfhir.example;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What an operator reads in the server's log (captured here from the same JVM): a refused upload
 * is one line with its status and reason, not HAPI's stack trace of the hook's exception; every
 * DICOMweb request has an access-log line (method, path, query parameter names, status, ms) and
 * no query value (PatientName, PatientID … are PHI).
 */
@ExtendWith(OutputCaptureExtension.class)
class RequestLogTest extends AbstractServerTest {

	private static final long LOG_DEADLINE_MILLIS = 10_000;

	@Test
	void aRefusedBinaryUploadLogsOneLineAndNoStackTrace(CapturedOutput theOutput) {
		int from = theOutput.getAll().length();
		HttpResponse<byte[]> r = post("Binary", "application/dicom", "DICM but not DICOM at all".getBytes(StandardCharsets.US_ASCII));
		assertThat(r.statusCode()).as(bodyText(r)).isBetween(400, 499);
		String logged = awaitLogged(theOutput, from, l -> l.contains("Refused, " + r.statusCode()));
		assertThat(logged).doesNotContain("\tat ").doesNotContain("Exception thrown by interceptor");
		List<String> refusals = logged.lines().filter(l -> l.contains("Not a valid DICOM instance")).toList();
		assertThat(refusals).as(logged).hasSize(1);
		assertThat(refusals.get(0)).contains("Refused, " + r.statusCode());
	}

	@Test
	void aStowRefusedForAnotherPatientLogsOneLineAndNoStackTrace(CapturedOutput theOutput) {
		String study = DicomFixtures.newStudyUid();
		String series = DicomFixtures.newSeriesUid();
		HttpResponse<byte[]> first = stow("dicomweb/studies", DicomFixtures.ctInstance(study, series));
		assertThat(first.statusCode()).as(bodyText(first)).isEqualTo(200);
		byte[] otherPatient = DicomFixtures.replace(DicomFixtures.ctInstance(study, series), java.util.Map.of("1CT1", "2XY2"));
		int from = theOutput.getAll().length();
		HttpResponse<byte[]> refused = stow("dicomweb/studies", otherPatient);
		assertThat(refused.statusCode()).as(bodyText(refused)).isEqualTo(409);
		String logged = awaitLogged(theOutput, from, l -> l.contains("dicomfhir.dicomweb.access") && l.contains("POST "));
		assertThat(logged).doesNotContain("\tat ").doesNotContain("Exception thrown by interceptor");
		assertThat(logged.lines().filter(l -> l.contains("Refused, 409"))).as(logged).hasSize(1);
	}

	@Test
	void dicomwebRequestsAreInTheAccessLogWithoutQueryValues(CapturedOutput theOutput) {
		int from = theOutput.getAll().length();
		HttpResponse<byte[]> r = get("dicomweb/studies?PatientName=SECRETNAME*&limit=3", "application/dicom+json");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(200);
		String line = awaitLogged(theOutput, from, l -> l.contains("dicomfhir.dicomweb.access") && l.contains("/fhir/dicomweb/studies"));
		assertThat(line.lines().filter(l -> l.contains("dicomfhir.dicomweb.access")).toList()).singleElement().asString()
				.containsPattern("GET /fhir/dicomweb/studies\\?PatientName&limit -> 200 \\d+ms$");
		assertThat(theOutput.getAll().substring(from)).doesNotContain("SECRETNAME");

		from = theOutput.getAll().length();
		assertThat(get("dicomweb/studies/1.2.3.999/metadata", "application/dicom+json").statusCode()).isEqualTo(404);
		awaitLogged(theOutput, from, l -> l.contains("dicomfhir.dicomweb.access")
				&& l.contains("GET /fhir/dicomweb/studies/1.2.3.999/metadata -> 404 "));
	}

	private HttpResponse<byte[]> stow(String thePath, byte[]... theParts) {
		return send(stowRequest(thePath, List.of(theParts)).build());
	}

	/**
	 * The output logged since {@code theFrom}, once a line matches: the access line is written
	 * after the response (its status and time are known then), so the client can be faster.
	 */
	private static String awaitLogged(CapturedOutput theOutput, int theFrom, Predicate<String> theLine) {
		long deadline = System.currentTimeMillis() + LOG_DEADLINE_MILLIS;
		while (true) {
			String logged = theOutput.getAll().substring(theFrom);
			if (logged.lines().anyMatch(theLine)) {
				return logged;
			}
			assertThat(System.currentTimeMillis()).as("the expected log line within 10 s; logged:\n" + logged).isLessThan(deadline);
			Thread.onSpinWait();
		}
	}
}
