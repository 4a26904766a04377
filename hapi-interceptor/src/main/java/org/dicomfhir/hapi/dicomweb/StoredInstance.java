package org.dicomfhir.hapi.dicomweb;

import org.dicomfhir.bridge.DicomNative;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One stored instance opened for frames and bulk data: the Rust core locates the values (as
 * {@code [offset,length]} ranges), then the ranges are copied to the response. On HAPI's
 * filesystem binary store the file is read in place: the core walks its headers and only the
 * requested ranges are read, so the last frame of a 200 MB instance costs what the first does.
 * Other stores hand over the whole instance in memory.
 */
abstract sealed class StoredInstance implements AutoCloseable {

	/**
	 * The core's {@code frames} answer (see {@link DicomNative#frames(byte[], String, long)}); a
	 * deflated data set is inflated up to {@code theMaxInflated} bytes, else DicomLimitException.
	 */
	abstract String frames(String theFrameList, long theMaxInflated) throws IOException;

	/** The core's {@code bulkdata} answer (see {@link DicomNative#bulkdata(byte[], String, long)}); null when absent. */
	abstract String bulkdata(String theTagPath, long theMaxInflated) throws IOException;

	/**
	 * The whole instance, for rendering: the core decodes from memory (a file store's file is read
	 * once; the size is bounded by what was accepted at STOW/ingest).
	 */
	abstract byte[] bytes() throws IOException;

	/** Writes bytes {@code [offset, offset+length)} of the instance. */
	abstract void copy(OutputStream theOut, long theOffset, long theLength) throws IOException;

	@Override
	public void close() throws IOException {}

	static StoredInstance inMemory(byte[] theBytes) {
		return new InMemory(theBytes);
	}

	static StoredInstance onDisk(Path theFile) throws IOException {
		return new OnDisk(theFile, FileChannel.open(theFile, StandardOpenOption.READ));
	}

	private static final class InMemory extends StoredInstance {
		private final byte[] myBytes;

		InMemory(byte[] theBytes) {
			myBytes = theBytes;
		}

		@Override
		String frames(String theFrameList, long theMaxInflated) {
			return DicomNative.frames(myBytes, theFrameList, theMaxInflated);
		}

		@Override
		String bulkdata(String theTagPath, long theMaxInflated) {
			return DicomNative.bulkdata(myBytes, theTagPath, theMaxInflated);
		}

		@Override
		byte[] bytes() {
			return myBytes;
		}

		@Override
		void copy(OutputStream theOut, long theOffset, long theLength) throws IOException {
			theOut.write(myBytes, Math.toIntExact(theOffset), Math.toIntExact(theLength));
		}
	}

	private static final class OnDisk extends StoredInstance {
		private final Path myFile;
		private final FileChannel myChannel;

		OnDisk(Path theFile, FileChannel theChannel) {
			myFile = theFile;
			myChannel = theChannel;
		}

		@Override
		String frames(String theFrameList, long theMaxInflated) throws IOException {
			return DicomNative.framesOfFile(myFile.toString(), theFrameList, theMaxInflated);
		}

		@Override
		String bulkdata(String theTagPath, long theMaxInflated) throws IOException {
			return DicomNative.bulkdataOfFile(myFile.toString(), theTagPath, theMaxInflated);
		}

		@Override
		byte[] bytes() throws IOException {
			return java.nio.file.Files.readAllBytes(myFile);
		}

		@Override
		void copy(OutputStream theOut, long theOffset, long theLength) throws IOException {
			ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(theLength, 256 * 1024));
			long position = theOffset;
			long end = theOffset + theLength;
			while (position < end) {
				buffer.clear().limit((int) Math.min(buffer.capacity(), end - position));
				int n = myChannel.read(buffer, position);
				if (n < 0) {
					throw new IOException(myFile + " ends at " + position + ", before " + end);
				}
				theOut.write(buffer.array(), 0, n);
				position += n;
			}
		}

		@Override
		public void close() throws IOException {
			myChannel.close();
		}
	}
}
