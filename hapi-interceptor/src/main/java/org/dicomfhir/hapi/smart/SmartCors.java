package org.dicomfhir.hapi.smart;

import java.util.List;

/**
 * The origins the DICOMweb facade allows (handed over by the root wiring), so that a 401 answered
 * before the facade runs carries the same CORS headers and a browser app can read it.
 */
@FunctionalInterface
public interface SmartCors {

	List<String> allowedOrigins();
}
