package org.dicomfhir.hapi.dicomweb;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The temporary files of one STOW-RS request: a part above the spool threshold is written to one
 * while it is read (its SHA-256 computed on the way), so it never sits in the Java heap. Every file
 * is deleted by {@link #close}, whatever happened to the request.
 */
final class Spool implements Closeable {

	private static final Logger ourLog = LoggerFactory.getLogger(Spool.class);

	private final Path myDirectory;
	private final long myThreshold;
	private final long myMaxMemoryPart;
	private final long myMaxSpooledPart;
	private final long myMemoryBudget;
	private final boolean myEnabled;
	private final List<Path> myFiles = new ArrayList<>();
	private final List<Closeable> myOpen = new ArrayList<>();
	private long myInMemory;

	/**
	 * @param theDirectory where files go (null or empty: java.io.tmpdir)
	 * @param theEnabled false: every part in memory (no binary store to copy a spooled part into)
	 * @param theThreshold a part larger than this is spooled
	 * @param theMaxMemoryPart largest part kept in memory (413 beyond: stow-max-part-bytes)
	 * @param theMaxSpooledPart largest spooled part (413 beyond: stow-max-spooled-part-bytes)
	 * @param theMemoryBudget parts of one request kept in memory, in total; later parts are spooled
	 */
	Spool(String theDirectory, boolean theEnabled, long theThreshold, long theMaxMemoryPart, long theMaxSpooledPart,
			long theMemoryBudget) {
		myDirectory = theDirectory == null || theDirectory.isBlank()
				? Paths.get(System.getProperty("java.io.tmpdir"))
				: Paths.get(theDirectory);
		myEnabled = theEnabled;
		myThreshold = theThreshold;
		myMaxMemoryPart = theMaxMemoryPart;
		myMaxSpooledPart = Math.min(theMaxSpooledPart, Integer.MAX_VALUE);
		myMemoryBudget = theMemoryBudget;
	}

	/** Where the bytes of the next part go. */
	Sink newSink() {
		long threshold = myEnabled ? Math.max(0, Math.min(myThreshold, myMemoryBudget - myInMemory)) : Long.MAX_VALUE;
		return new Sink(threshold);
	}

	private Path newFile() throws IOException {
		Files.createDirectories(myDirectory);
		Path file = Files.createTempFile(myDirectory, "dicomfhir-stow-", ".part");
		myFiles.add(file);
		return file;
	}

	@Override
	public void close() {
		// a part cut short (a limit, a client gone) left its file open: close it, or deleting it frees nothing
		for (Closeable open : myOpen) {
			try {
				open.close();
			} catch (IOException | RuntimeException e) {
				ourLog.debug("Closing a spooled part: {}", e.toString());
			}
		}
		myOpen.clear();
		for (Path file : myFiles) {
			try {
				Files.deleteIfExists(file);
			} catch (IOException | RuntimeException e) {
				ourLog.warn("Cannot delete the spooled STOW-RS part {}: {}", file, e.toString());
			}
		}
		myFiles.clear();
	}

	/** One part's bytes: in memory, or in a spooled file with its SHA-256 and size. */
	record Body(byte[] bytes, Path file, long size, String sha256) {
		boolean spooled() {
			return file != null;
		}
	}

	/** Receives one part's bytes; moves them to a file once they exceed the threshold. */
	final class Sink extends OutputStream {
		private final long myPartThreshold;
		private ByteArrayOutputStream myMemory = new ByteArrayOutputStream();
		private DigestOutputStream myFileOut;
		private Path myFile;
		private long mySize;

		private Sink(long theThreshold) {
			myPartThreshold = theThreshold;
		}

		@Override
		public void write(int theByte) throws IOException {
			count(1);
			(myFileOut != null ? myFileOut : myMemory).write(theByte);
		}

		@Override
		public void write(byte[] theBuf, int theOff, int theLen) throws IOException {
			count(theLen);
			(myFileOut != null ? myFileOut : myMemory).write(theBuf, theOff, theLen);
		}

		private void count(long theMore) throws IOException {
			mySize += theMore;
			if (myFileOut == null && mySize > myPartThreshold) {
				spill();
			}
			if (myFileOut != null) {
				if (mySize > myMaxSpooledPart) {
					throw new DicomWebException(413, "a part exceeds the limit of " + myMaxSpooledPart
							+ " bytes (dicomfhir.dicomweb.stow-max-spooled-part-bytes; at most 2 GiB - 1: a spooled part is parsed from one memory map)");
				}
			} else if (mySize > myMaxMemoryPart) {
				throw new DicomWebException(413, "a part exceeds the limit of " + myMaxMemoryPart
						+ " bytes (dicomfhir.dicomweb.stow-max-part-bytes)");
			}
		}

		private void spill() throws IOException {
			myFile = newFile();
			MessageDigest digest;
			try {
				digest = MessageDigest.getInstance("SHA-256");
			} catch (NoSuchAlgorithmException e) {
				throw new IllegalStateException(e);
			}
			myFileOut = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(myFile), 1 << 20), digest);
			myOpen.add(myFileOut);
			myMemory.writeTo(myFileOut);
			myMemory = null;
		}

		/** The part, complete. */
		Body finish() throws IOException {
			if (myFileOut != null) {
				myFileOut.close();
				String sha = HexFormat.of().formatHex(myFileOut.getMessageDigest().digest());
				return new Body(null, myFile, mySize, sha);
			}
			myInMemory += mySize;
			byte[] bytes = myMemory.toByteArray();
			myMemory = null;
			return new Body(bytes, null, bytes.length, null);
		}
	}

	// ------------------------------------------------------------------ memory maps

	/** A read-only memory map of a spooled file (at most 2 GiB - 1 bytes), for the Rust parse. */
	static MappedByteBuffer map(Path theFile) throws IOException {
		try (FileChannel channel = FileChannel.open(theFile, StandardOpenOption.READ)) {
			return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size());
		}
	}

	private static final Object UNSAFE;
	private static final Method INVOKE_CLEANER;

	static {
		Object unsafe = null;
		Method cleaner = null;
		try {
			Class<?> type = Class.forName("sun.misc.Unsafe");
			Field field = type.getDeclaredField("theUnsafe");
			field.setAccessible(true);
			unsafe = field.get(null);
			cleaner = type.getMethod("invokeCleaner", ByteBuffer.class);
		} catch (ReflectiveOperationException | RuntimeException e) {
			ourLog.info("Mapped STOW-RS parts are unmapped by the garbage collector ({})", e.toString());
		}
		UNSAFE = unsafe;
		INVOKE_CLEANER = cleaner;
	}

	/**
	 * Unmaps at once, so the disk space of a deleted spooled file is freed now and not whenever the
	 * garbage collector finds the (small) buffer object. The buffer must not be used afterwards.
	 */
	static void unmap(MappedByteBuffer theBuffer) {
		if (INVOKE_CLEANER == null || theBuffer == null) {
			return;
		}
		try {
			INVOKE_CLEANER.invoke(UNSAFE, theBuffer);
		} catch (ReflectiveOperationException | RuntimeException e) {
			ourLog.debug("Cannot unmap a spooled part: {}", e.toString());
		}
	}
}
