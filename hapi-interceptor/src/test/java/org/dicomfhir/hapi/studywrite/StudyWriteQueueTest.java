package org.dicomfhir.hapi.studywrite;

import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.studywrite.StudyWriter.Change;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The study writer's scheduling (group commit per study, linger, read barrier) with a fake batch
 * writer that records what it is handed: no HAPI, no database.
 */
class StudyWriteQueueTest {

	private static final long WAIT_SECONDS = 10;

	/** Records each batch; optionally blocks a study's writes until released, or fails them. */
	private static final class FakeWriter implements StudyWriteQueue.BatchWriter {
		final List<Batch> batches = Collections.synchronizedList(new ArrayList<>());
		final List<Batch> failures = Collections.synchronizedList(new ArrayList<>());
		volatile String blockedStudy;
		volatile String failingStudy;
		final CountDownLatch blockedStarted = new CountDownLatch(1);
		final CountDownLatch release = new CountDownLatch(1);

		record Batch(String studyUid, List<String> sops, String thread) {}

		@Override
		public void write(String theStudyUid, List<Change> theChanges) {
			batches.add(new Batch(theStudyUid, theChanges.stream().map(Change::sopInstanceUid).toList(),
					Thread.currentThread().getName()));
			if (theStudyUid.equals(blockedStudy)) {
				blockedStarted.countDown();
				try {
					release.await(WAIT_SECONDS, TimeUnit.SECONDS);
				} catch (InterruptedException e) {
					Thread.currentThread().interrupt();
				}
			}
			if (theStudyUid.equals(failingStudy)) {
				throw new IllegalStateException("write of " + theStudyUid + " failed");
			}
		}

		@Override
		public void failed(String theStudyUid, List<Change> theChanges, RuntimeException theError) {
			failures.add(new Batch(theStudyUid, theChanges.stream().map(Change::sopInstanceUid).toList(), theError.getMessage()));
		}

		/** Returns once the blocked study's write has begun (it then waits for {@link #release}). */
		void awaitBlockedWrite() throws InterruptedException {
			assertThat(blockedStarted.await(WAIT_SECONDS, TimeUnit.SECONDS)).as("the blocked write started").isTrue();
		}

		List<Batch> of(String theStudyUid) {
			synchronized (batches) {
				return batches.stream().filter(b -> b.studyUid().equals(theStudyUid)).toList();
			}
		}
	}

	private static DicomFhirProperties properties(DicomFhirProperties.StudyWriteMode theMode, int theLingerMillis) {
		DicomFhirProperties properties = new DicomFhirProperties();
		properties.setStudyWriteMode(theMode);
		properties.setStudyWriteLingerMillis(theLingerMillis);
		properties.setStudyWriterThreads(2);
		return properties;
	}

	/** A queue over {@code theWriter} with two writer threads. */
	private static StudyWriteQueue queue(DicomFhirProperties.StudyWriteMode theMode, int theLingerMillis, FakeWriter theWriter) {
		return new StudyWriteQueue(properties(theMode, theLingerMillis), theWriter);
	}

	private static Change add(String theStudy, String theSop) {
		return new Change(theStudy, theSop, "sha-" + theSop, "{}", "{}", "urn:system", "patient");
	}

	private static void await(CompletableFuture<?> theFuture) throws Exception {
		theFuture.get(WAIT_SECONDS, TimeUnit.SECONDS);
	}

	/** A synchronous queue whose write of {@code theStudy} (its instance "a") has begun and waits for {@code writer.release}. */
	private record BlockedWrite(FakeWriter writer, StudyWriteQueue queue, CompletableFuture<Void> write) {}

	private static BlockedWrite blockedWrite(String theStudy) throws InterruptedException {
		FakeWriter writer = new FakeWriter();
		writer.blockedStudy = theStudy;
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.SYNCHRONOUS, 0, writer);
		CompletableFuture<Void> write = queue.submit(List.of(add(theStudy, "a")));
		writer.awaitBlockedWrite();
		return new BlockedWrite(writer, queue, write);
	}

	@Test
	void aBurstOfUploadsToOneStudyIsWrittenOnceAfterTheLinger() throws Exception {
		FakeWriter writer = new FakeWriter();
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.DEFERRED, 2_000, writer);

		List<CompletableFuture<Void>> futures = new ArrayList<>();
		for (int i = 0; i < 20; i++) {
			futures.add(queue.submit(List.of(add("1.2.3", "1.2.3.1." + i))));
		}
		for (CompletableFuture<Void> f : futures) {
			await(f);
		}

		assertThat(writer.batches).hasSize(1);
		assertThat(writer.batches.get(0).sops()).as("in submission order")
				.containsExactlyElementsOf(futuresSops("1.2.3.1.", 20));
		assertThat(writer.batches.get(0).thread()).startsWith("dicomfhir-study-writer-");
	}

	private static List<String> futuresSops(String thePrefix, int theCount) {
		List<String> out = new ArrayList<>();
		for (int i = 0; i < theCount; i++) {
			out.add(thePrefix + i);
		}
		return out;
	}

	@Test
	void whatArrivesDuringAWriteGoesIntoTheNextWriteTogether() throws Exception {
		BlockedWrite blocked = blockedWrite("1.2.3");
		FakeWriter writer = blocked.writer();
		StudyWriteQueue queue = blocked.queue();
		CompletableFuture<Void> first = blocked.write();
		List<CompletableFuture<Void>> later = new ArrayList<>();
		for (String sop : List.of("b", "c", "d")) {
			later.add(queue.submit(List.of(add("1.2.3", sop))));
		}
		assertThat(first).isNotDone();
		writer.blockedStudy = null;
		writer.release.countDown();
		await(first);
		for (CompletableFuture<Void> f : later) {
			await(f);
		}

		assertThat(writer.of("1.2.3")).extracting(FakeWriter.Batch::sops)
				.containsExactly(List.of("a"), List.of("b", "c", "d"));
	}

	@Test
	void studiesAreWrittenIndependently() throws Exception {
		BlockedWrite blocked = blockedWrite("1.1");
		FakeWriter writer = blocked.writer();
		await(blocked.queue().submit(List.of(add("2.2", "b"))));
		assertThat(blocked.write()).as("the other study's write is still running").isNotDone();

		writer.release.countDown();
		await(blocked.write());
		assertThat(writer.of("2.2")).extracting(FakeWriter.Batch::sops).containsExactly(List.of("b"));
	}

	@Test
	void oneSubmissionSpanningStudiesCompletesWhenEveryStudyIsWritten() throws Exception {
		FakeWriter writer = new FakeWriter();
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.SYNCHRONOUS, 0, writer);

		await(queue.submit(List.of(add("1.1", "a"), add("2.2", "b"), add("1.1", "c"))));

		assertThat(writer.of("1.1")).extracting(FakeWriter.Batch::sops).containsExactly(List.of("a", "c"));
		assertThat(writer.of("2.2")).extracting(FakeWriter.Batch::sops).containsExactly(List.of("b"));
	}

	@Test
	void aFailedWriteIsReportedToTheWriterAndItsSubmitters_andTheStudyIsWrittenAgainLater() throws Exception {
		FakeWriter writer = new FakeWriter();
		writer.failingStudy = "1.1";
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.SYNCHRONOUS, 0, writer);

		CompletableFuture<Void> failed = queue.submit(List.of(add("1.1", "a")));
		assertThatThrownBy(() -> failed.get(WAIT_SECONDS, TimeUnit.SECONDS))
				.isInstanceOf(ExecutionException.class)
				.hasRootCauseMessage("write of 1.1 failed");
		assertThat(writer.failures).extracting(FakeWriter.Batch::sops).containsExactly(List.of("a"));

		writer.failingStudy = null;
		await(queue.submit(List.of(add("1.1", "a"))));
		assertThat(writer.of("1.1")).hasSize(2);
	}

	@Test
	void aWaitingReaderCutsTheLingerShort() throws Exception {
		FakeWriter writer = new FakeWriter();
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.DEFERRED, 60_000, writer);

		CompletableFuture<Void> write = queue.submit(List.of(add("1.1", "a")));
		long start = System.nanoTime();
		assertThat(queue.awaitSubmitted(Duration.ofSeconds(WAIT_SECONDS))).isTrue();

		assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(WAIT_SECONDS));
		// the submitter's future is another dependent of the same write: it may complete just
		// after the reader's (a 60 s linger would keep both waiting far longer than this)
		assertThat(write).succeedsWithin(Duration.ofSeconds(WAIT_SECONDS));
		assertThat(writer.batches).hasSize(1);
	}

	@Test
	void theReadBarrierReportsATimeoutAndReturnsAtOnceWhenNothingIsOutstanding() throws Exception {
		FakeWriter writer = new FakeWriter();
		writer.blockedStudy = "1.1";
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.DEFERRED, 0, writer);
		assertThat(queue.awaitSubmitted(Duration.ofMillis(1))).isTrue();

		CompletableFuture<Void> write = queue.submit(List.of(add("1.1", "a")));
		writer.awaitBlockedWrite();
		assertThat(queue.awaitSubmitted(Duration.ofMillis(100))).isFalse();

		writer.release.countDown();
		await(write);
		assertThat(queue.awaitSubmitted(Duration.ofMillis(1))).isTrue();
	}

	@Test
	void synchronousWritesDoNotLinger() throws Exception {
		FakeWriter writer = new FakeWriter();
		StudyWriteQueue queue = queue(DicomFhirProperties.StudyWriteMode.SYNCHRONOUS, 60_000, writer);

		long start = System.nanoTime();
		await(queue.submit(List.of(add("1.1", "a"))));

		assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(WAIT_SECONDS));
	}
}
