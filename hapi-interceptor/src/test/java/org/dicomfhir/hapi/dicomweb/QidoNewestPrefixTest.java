package org.dicomfhir.hapi.dicomweb;

import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which of the database's newest studies a QIDO page may be answered from: only those that come
 * first in QidoService.NEWEST_FIRST whatever the studies after them are.
 */
class QidoNewestPrefixTest {

	private static ImagingStudy study(String theId, String theStarted) {
		ImagingStudy study = new ImagingStudy();
		study.setId(theId);
		if (theStarted != null) {
			study.setStartedElement(new DateTimeType(theStarted));
		}
		return study;
	}

	private static List<String> ids(List<ImagingStudy> theStudies) {
		return theStudies.stream().map(s -> s.getIdElement().getIdPart()).toList();
	}

	@Test
	void theStudiesStartingWithTheOldestAreLeftOut() {
		List<ImagingStudy> page = List.of(study("1", "2020-01-05T10:00:00Z"), study("2", "2020-01-04T10:00:00Z"),
				study("3", "2020-01-03T10:00:00Z"), study("4", "2020-01-03T10:00:00Z"));
		assertThat(ids(QidoService.newestPrefix(page))).containsExactly("1", "2");
	}

	@Test
	void tiesAreReorderedAsNewestFirstDoes() {
		// the database's tie-break need not be ours: within the prefix, ours decides
		List<ImagingStudy> page = List.of(study("9", "2020-01-05T10:00:00Z"), study("1", "2020-01-05T10:00:00Z"),
				study("5", "2020-01-01T10:00:00Z"));
		assertThat(ids(QidoService.newestPrefix(page))).containsExactly("1", "9");
	}

	@Test
	void studiesWithoutAStartFirstAreLeftOut_andLastMeanEveryDatedStudyIsHere() {
		List<ImagingStudy> nullsFirst = List.of(study("n", null), study("1", "2020-01-05T10:00:00Z"),
				study("2", "2020-01-04T10:00:00Z"), study("3", "2020-01-03T10:00:00Z"));
		assertThat(ids(QidoService.newestPrefix(nullsFirst))).containsExactly("1", "2");
		List<ImagingStudy> nullsLast = List.of(study("1", "2020-01-05T10:00:00Z"), study("2", "2020-01-04T10:00:00Z"),
				study("n", null), study("m", null));
		assertThat(ids(QidoService.newestPrefix(nullsLast))).containsExactly("1", "2");
	}

	@Test
	void anOrderNotOursIsRefused() {
		assertThat(QidoService.newestPrefix(List.of(study("1", "2020-01-03T10:00:00Z"), study("2", "2020-01-05T10:00:00Z"),
				study("3", "2020-01-01T10:00:00Z")))).isNull();
		assertThat(QidoService.newestPrefix(List.of(study("1", "2020-01-05T10:00:00Z"), study("n", null),
				study("3", "2020-01-01T10:00:00Z")))).isNull();
		assertThat(QidoService.newestPrefix(List.of(study("n", null), study("1", "2020-01-05T10:00:00Z"),
				study("m", null)))).isNull();
	}
}
