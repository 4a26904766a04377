package org.dicomfhir.hapi.dicomweb;

import org.hl7.fhir.r4.model.ImagingStudy;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Parsed ImagingStudy resources by id and version, least recently used first out, bounded by the
 * number of instances they list (a study's parsed size grows with its instances). HAPI never
 * changes the content of a stored version, so an entry is valid for exactly the version it was read
 * at; {@link StudyStore} checks the database's current version on every request before serving one
 * (and evaluates the caller's rules on it): this map only saves the DAO read and the JSON parse.
 * Copies go in and out, so no request ever shares a resource object with another.
 */
final class StudyReadCache {

	/**
	 * A kept version, and its JSON without instance entries once a query has made it (the content of
	 * a version never changes, so neither does that JSON).
	 */
	private record Entry(long version, ImagingStudy study, int weight, AtomicReference<String> withoutInstances) {}

	/** User data of a copy {@link #get} returns: the entry it was copied from. */
	private static final String COPIED_FROM = StudyReadCache.class.getName() + ".entry";

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
		if (entry == null || entry.version() != theVersion) {
			return null;
		}
		ImagingStudy copy = entry.study().copy();
		copy.setUserData(COPIED_FROM, entry);
		return copy;
	}

	/**
	 * The study's JSON without its instance entries: made once per kept version when the study is
	 * a copy {@link #get} returned (the caller must not have changed it), else made each time.
	 * Encoding the candidates was most of a cached QIDO's cost (a JFR of series?StationName).
	 */
	static String withoutInstances(ImagingStudy theStudy, Supplier<String> theEncode) {
		if (!(theStudy.getUserData(COPIED_FROM) instanceof Entry entry)) {
			return theEncode.get();
		}
		String json = entry.withoutInstances().get();
		if (json == null) {
			json = theEncode.get();
			entry.withoutInstances().compareAndSet(null, json);
		}
		return json;
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
		Entry entry = new Entry(theVersion, theStudy.copy(), weight, new AtomicReference<>());
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
