package org.dicomfhir.hapi.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.Endpoint;

/**
 * With SMART on, a DICOMweb Endpoint ({@code connectionType} dicom-wado-rs) says that it needs the
 * same bearer token (Argonaut SMART Imaging Access: {@code requires-access-token} = true). A storage
 * hook, so it holds for every write of an Endpoint, the study writer's among them, without the
 * study writer knowing about tokens.
 */
@Interceptor
public class EndpointAccessTokenHook {

	static final String REQUIRES_ACCESS_TOKEN = "http://fhir.org/argonaut/smart-imaging/StructureDefinition/requires-access-token";
	private static final String DICOM_WADO_RS = "dicom-wado-rs";

	@Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
	public void created(IBaseResource theResource) {
		mark(theResource);
	}

	@Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
	public void updated(IBaseResource theOldResource, IBaseResource theNewResource) {
		mark(theNewResource);
	}

	static void mark(IBaseResource theResource) {
		if (!(theResource instanceof Endpoint endpoint) || !DICOM_WADO_RS.equals(endpoint.getConnectionType().getCode())) {
			return;
		}
		endpoint.getExtension().removeIf(e -> REQUIRES_ACCESS_TOKEN.equals(e.getUrl()));
		endpoint.addExtension(REQUIRES_ACCESS_TOKEN, new BooleanType(true));
	}
}
