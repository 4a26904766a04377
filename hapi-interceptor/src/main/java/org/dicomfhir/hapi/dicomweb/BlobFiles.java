package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import org.hl7.fhir.instance.model.api.IIdType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.lang.reflect.Method;
import java.nio.file.Path;

/**
 * Where HAPI's filesystem binary store keeps a blob, so frames and bulk data can read byte ranges
 * of the file instead of the whole instance. {@code IBinaryStorageSvc} offers whole-blob reads
 * only; the file name comes from HAPI's own (private) naming methods of
 * {@code FilesystemBinaryStorageSvcImpl}, looked up once. When the store is another kind, or
 * those methods are not there (another HAPI version), {@link #file} answers null and callers read
 * the whole blob through the API, as before.
 */
final class BlobFiles {

	private static final Logger ourLog = LoggerFactory.getLogger(BlobFiles.class);
	private static final String FILESYSTEM_STORE = "ca.uhn.fhir.jpa.binstore.FilesystemBinaryStorageSvcImpl";

	private final IBinaryStorageSvc myStore;
	private final Method myStoragePath;
	private final Method myStorageFilename;

	private BlobFiles(IBinaryStorageSvc theStore, Method theStoragePath, Method theStorageFilename) {
		myStore = theStore;
		myStoragePath = theStoragePath;
		myStorageFilename = theStorageFilename;
	}

	/** Null when the store does not keep blobs as files we can name. */
	static BlobFiles of(IBinaryStorageSvc theStore) {
		if (theStore == null || !FILESYSTEM_STORE.equals(theStore.getClass().getName())) {
			return null;
		}
		try {
			Method path = theStore.getClass().getDeclaredMethod("getStoragePath", String.class, boolean.class);
			Method name = theStore.getClass().getDeclaredMethod("getStorageFilename", File.class, IIdType.class, String.class);
			path.setAccessible(true);
			name.setAccessible(true);
			ourLog.info("DICOMweb frames and bulk data read byte ranges of the files of the filesystem binary store");
			return new BlobFiles(theStore, path, name);
		} catch (ReflectiveOperationException | RuntimeException e) {
			ourLog.info("DICOMweb frames and bulk data read whole instances: cannot name the files of {} ({})",
					theStore.getClass().getName(), e.toString());
			return null;
		}
	}

	/** The file holding the blob, or null when there is none (then the API read reports why). */
	Path file(IIdType theResourceId, String theBlobId) {
		if (theBlobId == null || !myStore.isValidBinaryContentId(theBlobId)) {
			return null;
		}
		try {
			File dir = (File) myStoragePath.invoke(myStore, theBlobId, false);
			if (dir == null) {
				return null;
			}
			File file = (File) myStorageFilename.invoke(myStore, dir, theResourceId, theBlobId);
			return file.isFile() ? file.toPath() : null;
		} catch (ReflectiveOperationException | RuntimeException e) {
			ourLog.debug("No file for blob {}: {}", theBlobId, e.toString());
			return null;
		}
	}
}
