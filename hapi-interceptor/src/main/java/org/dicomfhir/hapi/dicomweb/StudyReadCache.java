package org.dicomfhir.hapi.dicomweb;

import org.hl7.fhir.r4.model.ImagingStudy;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parsed ImagingStudy resources by id and version, least recently used first out, bounded by the
 * number of instances they list (a study's parsed size grows with its instances). HAPI never
 * changes the content of a stored version, so an entry is valid for exactly the version it was read
 * at; {@link StudyStore} checks the database's current version on every request before serving one
 * (and evaluates the caller's rules on it): this map only saves the DAO read and the JSON parse.
 * Copies go in and out, so no request ever shares a resource object with another.
 */
final class StudyReadCache {

	private record Entry(long version, ImagingStudy study, int weight) {}

	private final long myMaxInstances;
	private long myInstances;
	private final LinkedHashMap<String, Entry> myEntries = new LinkedHashMap<>(256, 0.75f, true);

	/** @param theMaxInstances most instances listed by the kept studies together; 0 turns the cache off */
	StudyReadCache(long theMaxInstances) {
		myMaxInstances = Math.max(0, theMaxInstances);
	}

	boolean enabled() {
		return myMaxInstances > 0;
	}

	/** A copy of the study kept for exactly this id and version; null when none is. */
	ImagingStudy get(String theId, long theVersion) {
		Entry entry;
		synchronized (this) {
			entry = myEntries.get(theId);
		}
		return entry == null || entry.version() != theVersion ? null : entry.study().copy();
	}

	/** Keeps a copy of the study as read at its version (a study larger than a tenth of the bound is not kept). */
	void put(String theId, long theVersion, ImagingStudy theStudy) {
		int weight = 1;
		for (ImagingStudy.ImagingStudySeriesComponent series : theStudy.getSeries()) {
			weight += series.getInstance().size();
		}
		if (weight > myMaxInstances / 10) {
			return;
		}
		Entry entry = new Entry(theVersion, theStudy.copy(), weight);
		synchronized (this) {
			Entry old = myEntries.get(theId);
			if (old != null && old.version() > theVersion) {
				return; // a slower reader of an older version never replaces a newer one
			}
			myEntries.put(theId, entry);
			myInstances += weight - (old == null ? 0 : old.weight());
			var it = myEntries.entrySet().iterator();
			while (myInstances > myMaxInstances && it.hasNext()) {
				Map.Entry<String, Entry> eldest = it.next();
				myInstances -= eldest.getValue().weight();
				it.remove();
			}
		}
	}

	/** Forgets a study (its read through HAPI failed or changed owner: the next request reads it again). */
	synchronized void remove(String theId) {
		Entry old = myEntries.remove(theId);
		if (old != null) {
			myInstances -= old.weight();
		}
	}

	synchronized int size() {
		return myEntries.size();
	}
}
