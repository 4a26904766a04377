package org.dicomfhir.hapi.ingest;

import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import org.hl7.fhir.r4.model.Binary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;

import java.io.IOException;

/** The bytes of a stored Binary, inline or in HAPI's external binary store. */
public class BinaryBytes {

	private static final Logger ourLog = LoggerFactory.getLogger(BinaryBytes.class);

	private final ObjectProvider<IBinaryStorageSvc> myBinaryStorage;

	public BinaryBytes(ObjectProvider<IBinaryStorageSvc> theBinaryStorage) {
		myBinaryStorage = theBinaryStorage;
	}

	/** Null when the bytes cannot be had (logged). */
	byte[] read(Binary theBinary) {
		if (theBinary.hasData() && theBinary.getData() != null) {
			return theBinary.getData();
		}
		IBinaryStorageSvc storage = myBinaryStorage.getIfAvailable();
		if (storage == null) {
			return null;
		}
		try {
			return storage.fetchDataByteArrayFromBinary(theBinary);
		} catch (IOException | RuntimeException e) {
			ourLog.warn("Cannot read the bytes of Binary/{}: {}", theBinary.getIdElement().getIdPart(), e.toString());
			return null;
		}
	}
}
