package org.dicomfhir.hapi.config;

import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;

/**
 * An authorization interceptor that can tell, for one request, that it allows an operation on
 * every resource of a type, whatever its compartment or id (a SMART {@code system/} grant).
 * The access layer then decides without reading the study or patient its rules would be applied
 * to; interceptors that do not implement this are asked about the resource itself.
 */
public interface TypeWideAuthorization {

	/** True only when no resource of the type could be refused this operation by this interceptor. */
	boolean allowsEveryResourceOfType(RequestDetails theRequest, RestOperationTypeEnum theOperation, String theResourceType);
}
