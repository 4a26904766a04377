package org.dicomfhir.example;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Writes DICOM elements in Explicit VR Little Endian, for tests that build instances byte by byte;
 * finds the encapsulated Pixel Data of a file, for tests that cut it.
 */
final class Part10 {

	private Part10() {}

	/** A UI value, padded to even length with NUL. */
	static byte[] uid(String theUid) {
		byte[] b = theUid.getBytes(StandardCharsets.US_ASCII);
		return b.length % 2 == 0 ? b : Arrays.copyOf(b, b.length + 1);
	}

	/** A text value, padded to even length with a space. */
	static byte[] text(String theText) {
		return (theText.length() % 2 == 0 ? theText : theText + " ").getBytes(StandardCharsets.US_ASCII);
	}

	/** A little-endian integer of 2 or 4 bytes. */
	static byte[] le(int theBytes, long theValue) {
		ByteBuffer b = ByteBuffer.allocate(theBytes).order(ByteOrder.LITTLE_ENDIAN);
		if (theBytes == 2) {
			b.putShort((short) theValue);
		} else {
			b.putInt((int) theValue);
		}
		return b.array();
	}

	static void element(OutputStream theOut, int theGroup, int theElement, String theVr, byte[] theValue) throws IOException {
		writeHeader(theOut, theGroup, theElement, theVr, theValue.length);
		theOut.write(theValue);
	}

	/**
	 * The 128-byte preamble, "DICM" and the File Meta Information group of an instance of this SOP
	 * class and instance in this transfer syntax; the data set follows (written by the caller).
	 */
	static void writePreambleAndFileMeta(OutputStream theOut, String theSopClass, String theSop, String theTransferSyntax)
			throws IOException {
		java.io.ByteArrayOutputStream meta = new java.io.ByteArrayOutputStream();
		element(meta, 0x0002, 0x0001, "OB", new byte[] {0, 1});
		element(meta, 0x0002, 0x0002, "UI", uid(theSopClass));
		element(meta, 0x0002, 0x0003, "UI", uid(theSop));
		element(meta, 0x0002, 0x0010, "UI", uid(theTransferSyntax));
		element(meta, 0x0002, 0x0012, "UI", uid("1.2.3.4.5.6"));
		theOut.write(new byte[128]);
		theOut.write("DICM".getBytes(StandardCharsets.US_ASCII));
		element(theOut, 0x0002, 0x0000, "UL", le(4, meta.size()));
		meta.writeTo(theOut);
	}

	/** An element's tag, VR and length; its value follows (written by the caller, possibly streamed). */
	static void writeHeader(OutputStream theOut, int theGroup, int theElement, String theVr, long theLength) throws IOException {
		theOut.write(le(2, theGroup));
		theOut.write(le(2, theElement));
		theOut.write(theVr.getBytes(StandardCharsets.US_ASCII));
		if (List.of("OB", "OW", "OF", "SQ", "UT", "UN").contains(theVr)) {
			theOut.write(new byte[2]);
			theOut.write(le(4, theLength));
		} else {
			theOut.write(le(2, theLength));
		}
	}

	/**
	 * Where the items of the last top-level encapsulated Pixel Data (7FE0,0010 OB, undefined length)
	 * start: its Basic Offset Table item. -1 when there is none.
	 */
	static int encapsulatedPixelDataItems(byte[] theFile) {
		for (int i = theFile.length - 12; i >= 0; i--) {
			if ((theFile[i] & 0xFF) == 0xE0 && theFile[i + 1] == 0x7F && theFile[i + 2] == 0x10 && theFile[i + 3] == 0
					&& (theFile[i + 8] & 0xFF) == 0xFF && (theFile[i + 11] & 0xFF) == 0xFF) {
				return i + 12;
			}
		}
		return -1;
	}
}
