package org.dicomfhir.hapi.dicomweb;

import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The parsed-study cache: an entry serves exactly its version, copies in and out, bounded by instances. */
class StudyReadCacheTest {

	private static ImagingStudy study(String theId, int theInstances) {
		ImagingStudy study = new ImagingStudy();
		study.setId(theId);
		ImagingStudy.ImagingStudySeriesComponent series = study.addSeries().setUid("1.2.3");
		for (int i = 0; i < theInstances; i++) {
			series.addInstance().setUid("1.2.3." + i);
		}
		return study;
	}

	@Test
	void anEntryServesOnlyItsVersion_andNeverTheSameObject() {
		StudyReadCache cache = new StudyReadCache(1000);
		ImagingStudy read = study("1.2", 3);
		cache.put("1.2", 4, read);
		assertThat(cache.get("1.2", 5)).as("a newer version in the database").isNull();
		assertThat(cache.get("1.2", 3)).isNull();
		ImagingStudy first = cache.get("1.2", 4);
		ImagingStudy second = cache.get("1.2", 4);
		assertThat(first).isNotNull().isNotSameAs(read).isNotSameAs(second);
		first.getSeriesFirstRep().getInstance().clear(); // a caller changing its copy changes no one else's
		assertThat(cache.get("1.2", 4).getSeriesFirstRep().getInstance()).hasSize(3);
		read.getSeriesFirstRep().getInstance().clear(); // nor does the reader that put it
		assertThat(cache.get("1.2", 4).getSeriesFirstRep().getInstance()).hasSize(3);
	}

	@Test
	void anOlderReadNeverReplacesANewerVersion() {
		StudyReadCache cache = new StudyReadCache(1000);
		cache.put("1.2", 5, study("1.2", 2));
		cache.put("1.2", 4, study("1.2", 1));
		assertThat(cache.get("1.2", 5)).isNotNull();
		assertThat(cache.get("1.2", 4)).isNull();
	}

	@Test
	void boundedByTheInstancesTheStudiesList_leastRecentlyUsedFirstOut() {
		StudyReadCache cache = new StudyReadCache(100); // a study of more than 10 instances is not kept
		cache.put("big", 1, study("big", 10));
		assertThat(cache.get("big", 1)).isNull();
		for (int i = 0; i < 20; i++) {
			cache.put("s" + i, 1, study("s" + i, 9)); // 10 each with the study itself
			cache.get("s0", 1); // s0 stays the most recently used
		}
		assertThat(cache.size()).isEqualTo(10);
		assertThat(cache.get("s0", 1)).isNotNull();
		assertThat(cache.get("s1", 1)).isNull();
		assertThat(cache.get("s19", 1)).isNotNull();
		assertThat(new StudyReadCache(0).enabled()).isFalse();
	}

	@Test
	void theJsonWithoutInstancesIsMadeOncePerKeptVersion_andNeverForAStudyNotFromTheCache() {
		StudyReadCache cache = new StudyReadCache(1000);
		cache.put("1.2", 4, study("1.2", 3));
		java.util.concurrent.atomic.AtomicInteger encodes = new java.util.concurrent.atomic.AtomicInteger();
		assertThat(StudyReadCache.withoutInstances(cache.get("1.2", 4), () -> "v4-" + encodes.incrementAndGet())).isEqualTo("v4-1");
		assertThat(StudyReadCache.withoutInstances(cache.get("1.2", 4), () -> "v4-" + encodes.incrementAndGet()))
				.as("another copy of the same version").isEqualTo("v4-1");
		cache.put("1.2", 5, study("1.2", 2));
		assertThat(StudyReadCache.withoutInstances(cache.get("1.2", 5), () -> "v5-" + encodes.incrementAndGet()))
				.as("a new version is encoded again").isEqualTo("v5-2");
		ImagingStudy loadedByHapi = study("1.2", 2);
		assertThat(StudyReadCache.withoutInstances(loadedByHapi, () -> "fresh")).isEqualTo("fresh");
		assertThat(StudyReadCache.withoutInstances(loadedByHapi, () -> "fresh again")).isEqualTo("fresh again");
	}
}
