package org.dicomfhir.hapi.studywrite;

import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.studywrite.StudyWriter.Change;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The scheduling half of the {@link StudyWriter}: group commit per study. While one write of a
 * study is running (and, for deferred writes, for a short linger before it), every change that
 * arrives for that study waits and goes into the next write together; studies are written in
 * parallel on the writer threads. What a write does is the {@link BatchWriter}'s business (the
 * StudyWriter's HAPI transaction), so this part is tested on its own with a fake one.
 */
final class StudyWriteQueue {

	/** Writes one batch of one study's changes. */
	interface BatchWriter {
		/** Writes the batch; throws when it failed for good (after its own retries). */
		void write(String theStudyUid, List<Change> theChanges);

		/** Called with a batch whose {@link #write} threw, before its submitters learn of it. */
		void failed(String theStudyUid, List<Change> theChanges, RuntimeException theError);
	}

	private record Pending(List<Change> changes, CompletableFuture<Void> done) {}

	/** A deferred write goes once its study received nothing new for half the linger. */
	private static final int QUIET_FRACTION = 2;

	/** Every change submitted and not yet written, with the time it was submitted. */
	private final Map<Pending, Instant> myOutstanding = new ConcurrentHashMap<>();

	/** Changes waiting for a study; present while a writer of that study is running. */
	private final Map<String, List<Pending>> myQueues = new ConcurrentHashMap<>();
	/** When each study with a running writer last received a change (System.nanoTime()). */
	private final Map<String, Long> myLastArrival = new ConcurrentHashMap<>();

	private final DicomFhirProperties myProperties;
	private final BatchWriter myWriter;
	private final ExecutorService myExecutor;
	/** Readers waiting for deferred writes; while there are any, writers do not linger. */
	private final Object myFlushSignal = new Object();
	private int myWaitingReaders;

	StudyWriteQueue(DicomFhirProperties theProperties, BatchWriter theWriter) {
		myProperties = theProperties;
		myWriter = theWriter;
		AtomicInteger threads = new AtomicInteger();
		myExecutor = Executors.newFixedThreadPool(theProperties.getStudyWriterThreads(), r -> {
			Thread t = new Thread(r, "dicomfhir-study-writer-" + threads.incrementAndGet());
			t.setDaemon(true);
			return t;
		});
	}

	/**
	 * Read barrier for deferred writes: waits until every change submitted before this call is
	 * written (or has failed), cutting short the linger of the writers it waits for. Returns false
	 * if that took longer than the timeout.
	 */
	boolean awaitSubmitted(Duration theTimeout) {
		if (myOutstanding.isEmpty()) {
			return true;
		}
		CompletableFuture<?>[] pending = myOutstanding.keySet().stream().map(Pending::done).toArray(CompletableFuture[]::new);
		synchronized (myFlushSignal) {
			myWaitingReaders++;
			myFlushSignal.notifyAll();
		}
		try {
			CompletableFuture.allOf(pending).get(theTimeout.toMillis(), TimeUnit.MILLISECONDS);
		} catch (ExecutionException e) {
			// A failed write is logged by its writer and retried later; the reader goes on.
		} catch (TimeoutException e) {
			return false;
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return false;
		} finally {
			synchronized (myFlushSignal) {
				myWaitingReaders--;
			}
		}
		return true;
	}

	/** Queues the changes; the future completes when every study they touch has been written. */
	CompletableFuture<Void> submit(List<Change> theChanges) {
		return submit(theChanges, Instant.now());
	}

	private CompletableFuture<Void> submit(List<Change> theChanges, Instant theSubmitted) {
		Map<String, List<Change>> byStudy = new LinkedHashMap<>();
		for (Change change : theChanges) {
			byStudy.computeIfAbsent(change.studyUid(), k -> new ArrayList<>()).add(change);
		}
		List<CompletableFuture<Void>> writes = new ArrayList<>();
		for (Map.Entry<String, List<Change>> entry : byStudy.entrySet()) {
			writes.add(enqueue(entry.getKey(), entry.getValue(), theSubmitted));
		}
		return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new));
	}

	private CompletableFuture<Void> enqueue(String theStudyUid, List<Change> theChanges, Instant theSubmitted) {
		Pending pending = new Pending(theChanges, new CompletableFuture<>());
		myOutstanding.put(pending, theSubmitted);
		pending.done().whenComplete((ok, error) -> myOutstanding.remove(pending));
		boolean[] startWriter = {false};
		myQueues.compute(theStudyUid, (uid, queue) -> {
			myLastArrival.put(uid, System.nanoTime());
			if (queue == null) {
				startWriter[0] = true;
				queue = new ArrayList<>();
			}
			queue.add(pending);
			return queue;
		});
		if (startWriter[0]) {
			myExecutor.execute(() -> drain(theStudyUid));
		}
		return pending.done();
	}

	private void drain(String theStudyUid) {
		while (true) {
			linger(theStudyUid);
			List<Pending> batch = new ArrayList<>();
			myQueues.computeIfPresent(theStudyUid, (uid, queue) -> {
				batch.addAll(queue);
				queue.clear();
				// An empty queue ends this writer; the next change starts a new one.
				if (batch.isEmpty()) {
					myLastArrival.remove(uid);
					return null;
				}
				return queue;
			});
			if (batch.isEmpty()) {
				return;
			}
			List<Change> changes = new ArrayList<>();
			batch.forEach(p -> changes.addAll(p.changes()));
			try {
				myWriter.write(theStudyUid, changes);
				batch.forEach(p -> p.done().complete(null));
			} catch (RuntimeException e) {
				myWriter.failed(theStudyUid, changes, e);
				batch.forEach(p -> p.done().completeExceptionally(e));
			}
		}
	}

	/**
	 * Deferred writes wait before each write so that more instances join it: until the study has
	 * been quiet (no new instance) for half the linger, at most the configured linger, and not
	 * at all while a reader waits. A study sent as a burst is then written once; a long sequential
	 * upload is written about once per linger. Synchronous writes never wait: uploaders are waiting.
	 */
	private void linger(String theStudyUid) {
		int linger = myProperties.getStudyWriteLingerMillis();
		if (!myProperties.isDeferredStudyWrites() || linger <= 0) {
			return;
		}
		long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(linger);
		long quiet = TimeUnit.MILLISECONDS.toNanos(linger) / QUIET_FRACTION;
		synchronized (myFlushSignal) {
			while (myWaitingReaders == 0) {
				long now = System.nanoTime();
				Long lastArrival = myLastArrival.get(theStudyUid);
				long quietUntil = lastArrival == null ? now : lastArrival + quiet;
				long wakeAt = Math.min(deadline, quietUntil);
				if (wakeAt - now <= 0) {
					return;
				}
				try {
					TimeUnit.NANOSECONDS.timedWait(myFlushSignal, wakeAt - now);
				} catch (InterruptedException e) {
					Thread.currentThread().interrupt();
					return;
				}
			}
		}
	}
}
