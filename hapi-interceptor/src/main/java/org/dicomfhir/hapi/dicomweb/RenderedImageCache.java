package org.dicomfhir.hapi.dicomweb;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Rendered images and thumbnails by what fully determines their bytes: the instance's Binary id
 * (the SHA-256 of its bytes: content-addressed, never changed), the frame, the normalised
 * rendering parameters (media type included) and the core's version. Bounded in bytes
 * ({@code dicomfhir.dicomweb.rendered-cache-bytes}, read on every use; 0 turns it off), least
 * recently used first out; an image larger than an eighth of the bound is not kept.
 *
 * <p>It holds pixels, never decisions: {@link RenderedService} resolves the study and the instance
 * and reads the Binary as the caller (every authorization hook, a deleted Binary's 404) before it
 * asks this map, exactly as before it renders. So a cached image only saves reading the instance
 * and rendering it.
 */
public final class RenderedImageCache {

	/** What an image's bytes are a function of. {@code theParameters} holds the media type. */
	record Key(String binaryId, int frame, String parameters) {}

	private final LongSupplier myMaxBytes;
	private final LinkedHashMap<Key, byte[]> myImages = new LinkedHashMap<>(256, 0.75f, true);
	private long myBytes;
	private final AtomicLong myHits = new AtomicLong();

	/** @param theMaxBytes the bound, asked on every use (a lowered bound evicts on the next store) */
	public RenderedImageCache(LongSupplier theMaxBytes) {
		myMaxBytes = theMaxBytes;
	}

	/** The image kept for the key; null when none is (or the cache is off). Callers must not change it. */
	byte[] get(Key theKey) {
		if (myMaxBytes.getAsLong() <= 0) {
			return null;
		}
		byte[] image;
		synchronized (this) {
			image = myImages.get(theKey);
		}
		if (image != null) {
			myHits.incrementAndGet();
		}
		return image;
	}

	/** Keeps the image, then forgets the least recently used ones until the bound holds. */
	void put(Key theKey, byte[] theImage) {
		long max = myMaxBytes.getAsLong();
		synchronized (this) {
			if (max > 0 && theImage.length <= max / 8) {
				byte[] old = myImages.put(theKey, theImage);
				myBytes += theImage.length - (old == null ? 0 : old.length);
			}
			var it = myImages.entrySet().iterator();
			while (myBytes > Math.max(0, max) && it.hasNext()) {
				Map.Entry<Key, byte[]> eldest = it.next();
				myBytes -= eldest.getValue().length;
				it.remove();
			}
		}
	}

	/** Bytes of the images kept now. */
	public synchronized long bytes() {
		return myBytes;
	}

	/** Images kept now. */
	public synchronized int size() {
		return myImages.size();
	}

	/** Requests answered from this map since start (tests, diagnostics). */
	public long hits() {
		return myHits.get();
	}
}
