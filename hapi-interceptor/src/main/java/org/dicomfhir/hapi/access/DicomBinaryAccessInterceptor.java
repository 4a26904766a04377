package org.dicomfhir.hapi.access;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.IPreResourceAccessDetails;
import ca.uhn.fhir.rest.api.server.IPreResourceShowDetails;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Binary;

/**
 * Direct FHIR access to a DICOM Binary is access to its patient's images. HAPI's
 * AuthorizationInterceptor applies no compartment to Binary, so rules that let a caller read or
 * write Binaries would let it reach every patient's instances; this interceptor adds the owner:
 * a caller may read a DICOM Binary only if its rules allow reading the Binary's ImagingStudy, and
 * may update or delete it only if they allow updating that study (removing an instance changes it).
 *
 * <p>A read of one Binary the caller may not read is a 403 that names nothing; searches and history
 * leave such Binaries out of the page (as HAPI's consent service does), so no id or count leaks.
 * Writes are checked before the plugin's storage hook (order -200 &lt; -100) parses or claims
 * anything. Requests of the system are not checked. Registered on the JPA interceptor service, so
 * it applies to REST calls, transaction entries and operations such as {@code $binary-access-read}.
 */
@Interceptor
public class DicomBinaryAccessInterceptor {

	private final StudyAccess myAccess;

	public DicomBinaryAccessInterceptor(StudyAccess theAccess) {
		myAccess = theAccess;
	}

	@Hook(Pointcut.STORAGE_PREACCESS_RESOURCES)
	public void beforeAccess(IPreResourceAccessDetails theDetails, RequestDetails theRequest) {
		if (StudyAccess.isSystem(theRequest) || holdsNoBinary(theDetails, theRequest)) {
			return;
		}
		for (int i = 0; i < theDetails.size(); i++) {
			if (!mayRead(theDetails.getResource(i), theRequest)) {
				refuseOneRead(theRequest);
				theDetails.setDontReturnResourceAtIndex(i);
			}
		}
	}

	/** Also where history and paging show resources (some of which never pass the access hook). */
	@Hook(Pointcut.STORAGE_PRESHOW_RESOURCES)
	public void beforeShow(IPreResourceShowDetails theDetails, RequestDetails theRequest) {
		if (StudyAccess.isSystem(theRequest)) {
			return;
		}
		for (int i = 0; i < theDetails.size(); i++) {
			IBaseResource resource = theDetails.getResource(i);
			if (resource != null && !mayRead(resource, theRequest)) {
				refuseOneRead(theRequest);
				theDetails.setResource(i, null);
			}
		}
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED, order = -200)
	public void beforeCreate(IBaseResource theResource, RequestDetails theRequest) {
		if (theResource instanceof Binary binary && DicomBinaryKind.isDicomContentType(binary.getContentType())) {
			myAccess.requireMayStoreAny(theRequest); // which study: checked after the parse, before the claim
		}
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED, order = -200)
	public void beforeUpdate(IBaseResource theOld, IBaseResource theNew, RequestDetails theRequest) {
		if (StudyAccess.isSystem(theRequest)) {
			return;
		}
		if (theOld instanceof Binary old && DicomBinaryKind.isDicom(old) && !isDeleted(old) && myAccess.ownerStudy(old) != null) {
			myAccess.requireMayChange(theRequest, old);
		} else if (theNew instanceof Binary binary && DicomBinaryKind.isDicomContentType(binary.getContentType())) {
			// new content (or a deleted instance stored again): which study, the storage hook checks
			// after the parse, before the claim
			myAccess.requireMayStoreAny(theRequest);
		}
	}

	@Hook(value = Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED, order = -200)
	public void beforeDelete(IBaseResource theResource, RequestDetails theRequest) {
		if (!StudyAccess.isSystem(theRequest) && theResource instanceof Binary binary && DicomBinaryKind.isDicom(binary)) {
			myAccess.requireMayChange(theRequest, binary);
		}
	}

	private boolean mayRead(IBaseResource theResource, RequestDetails theRequest) {
		return !(theResource instanceof Binary binary) || !DicomBinaryKind.isDicom(binary) || myAccess.mayRead(theRequest, binary);
	}

	/**
	 * Whether the resources of a search's access check are known, without loading them, not to
	 * be Binaries. HAPI's search hands this hook its result ids and loads the resources only when a
	 * hook asks for one ({@code JpaPreResourceAccessDetails.getResource}), and then loads them again
	 * for the answer: asking for every ImagingStudy of a QIDO or WADO request just to see it was no
	 * Binary was a fifth of a rendered request's samples (JFR). Known here: a search or read of
	 * another type (the search builder's type) without {@code _include}/{@code _revinclude}, whose
	 * results are all of that type. Anything else (includes, operations, a HAPI whose classes
	 * differ) is checked the slow way; what is shown is checked again by {@link #beforeShow}.
	 */
	public static boolean holdsNoBinary(IPreResourceAccessDetails theDetails, RequestDetails theRequest) {
		RestOperationTypeEnum operation = theRequest.getRestOperationType();
		if (JPA_BUILDER == null || !JPA_BUILDER.getDeclaringClass().isInstance(theDetails)
				|| (operation != RestOperationTypeEnum.SEARCH_TYPE && operation != RestOperationTypeEnum.READ)) {
			return false;
		}
		java.util.Map<String, String[]> parameters = theRequest.getParameters();
		if (parameters != null && parameters.keySet().stream().anyMatch(k -> k.startsWith("_include") || k.startsWith("_revinclude"))) {
			return false;
		}
		try {
			Object builder = ((ca.uhn.fhir.util.ICallable<?>) JPA_BUILDER.get(theDetails)).call();
			return builder instanceof ca.uhn.fhir.jpa.search.builder.SearchBuilder searchBuilder
					&& searchBuilder.getResourceName() != null && !"Binary".equals(searchBuilder.getResourceName());
		} catch (IllegalAccessException | RuntimeException e) {
			return false;
		}
	}

	/** {@code JpaPreResourceAccessDetails.mySearchBuilderSupplier}; null when HAPI's class differs. */
	private static final java.lang.reflect.Field JPA_BUILDER = jpaBuilderField();

	private static java.lang.reflect.Field jpaBuilderField() {
		try {
			java.lang.reflect.Field field = Class.forName("ca.uhn.fhir.jpa.interceptor.JpaPreResourceAccessDetails")
					.getDeclaredField("mySearchBuilderSupplier");
			field.setAccessible(true);
			return field;
		} catch (ReflectiveOperationException | RuntimeException e) {
			return null;
		}
	}

	/** One resource asked for by id: refused outright (a search or history just leaves it out). */
	private static void refuseOneRead(RequestDetails theRequest) {
		RestOperationTypeEnum operation = theRequest.getRestOperationType();
		if (operation == RestOperationTypeEnum.READ || operation == RestOperationTypeEnum.VREAD) {
			throw new ForbiddenOperationException(StudyAccess.DENIED_READ);
		}
	}

	private static boolean isDeleted(Binary theBinary) {
		return ca.uhn.fhir.model.api.ResourceMetadataKeyEnum.DELETED_AT.get(theBinary) != null;
	}

}
