package org.dicomfhir.example;

import org.dicomfhir.hapi.studywrite.StudyWriter;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many clients uploading instances of the same study at once: every instance listed exactly once,
 * counts right, no client sees an error, and the study is not rewritten once per instance.
 */
class ConcurrentIngestTest extends AbstractServerTest {

	private static final int CLIENTS = 8;
	private static final int SERIES = 5;
	private static final int INSTANCES = 500;

	@Test
	void eightClientsFiveHundredInstancesOneStudy() throws Exception {
		String study = DicomFixtures.newStudyUid();
		List<String> series = new ArrayList<>();
		for (int i = 0; i < SERIES; i++) {
			series.add(DicomFixtures.newSeriesUid());
		}
		List<byte[]> instances = new ArrayList<>();
		for (int i = 0; i < INSTANCES; i++) {
			instances.add(DicomFixtures.ctInstance(study, series.get(i % SERIES)));
		}
		StudyWriter writer = bean(StudyWriter.class);
		int writesBefore = writer.writeCount();

		ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
		List<Future<HttpResponse<byte[]>>> responses = new ArrayList<>();
		for (byte[] instance : instances) {
			responses.add(clients.submit(() -> post("Binary", "application/dicom", instance)));
		}
		List<String> failures = new ArrayList<>();
		for (Future<HttpResponse<byte[]>> response : responses) {
			HttpResponse<byte[]> r = response.get();
			if (r.statusCode() != 201) {
				failures.add(r.statusCode() + " " + bodyText(r));
			}
		}
		clients.shutdown();
		assertThat(failures).isEmpty();
		int studyWrites = writer.writeCount() - writesBefore;

		ImagingStudy imagingStudy = parse(ImagingStudy.class, getJson("ImagingStudy/" + study));
		assertThat(imagingStudy.getNumberOfSeries()).isEqualTo(SERIES);
		assertThat(imagingStudy.getNumberOfInstances()).isEqualTo(INSTANCES);
		Map<String, Long> listed = imagingStudy.getSeries().stream()
				.flatMap(s -> s.getInstance().stream())
				.collect(Collectors.groupingBy(ImagingStudy.ImagingStudySeriesInstanceComponent::getUid, HashMap::new, Collectors.counting()));
		assertThat(listed).hasSize(INSTANCES);
		assertThat(listed.values()).allMatch(count -> count == 1);
		for (ImagingStudy.ImagingStudySeriesComponent s : imagingStudy.getSeries()) {
			assertThat(s.getNumberOfInstances()).isEqualTo(INSTANCES / SERIES);
		}
		assertThat(DicomIngestTest.binaryIds(imagingStudy))
				.containsExactlyInAnyOrderElementsOf(instances.stream().map(DicomFixtures::sha256).toList());

		// Group commit: concurrent uploads share ImagingStudy writes.
		System.out.printf("%d instances from %d clients -> %d ImagingStudy writes%n", INSTANCES, CLIENTS, studyWrites);
		assertThat(studyWrites).isLessThan(INSTANCES / 2);
	}
}
