package org.dicomfhir.example;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.IPreResourceShowDetails;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationFlagsEnum;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.IRuleApplier;
import ca.uhn.fhir.rest.server.interceptor.auth.PolicyEnum;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import org.dicomfhir.hapi.dicomweb.StudyStore;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.instance.model.api.IIdType;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * WADO-RS, rendered and thumbnail requests may answer from a parsed copy of the ImagingStudy
 * instead of HAPI's read by id, only when that read would have answered the same: the stored
 * version is still the current one, the caller's rules allow it, and no hook the read would call
 * is one the plugin cannot evaluate. Whatever changes the study (a FHIR PUT or DELETE, a write
 * through the DAO as another server sharing the database makes) is seen by the next request; a
 * caller who may not read the study gets the same refusal as before; another read hook (audit,
 * consent) still sees every read.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DicomWebStudyCacheTest extends AbstractServerTest {

	private AuthorizationInterceptor authorization;
	/** Studies token A may not see: its rule allows every operation, then refuses these on the way out. */
	private final Set<String> forbidden = ConcurrentHashMap.newKeySet();

	/**
	 * Token A's one rule: allow, except an ImagingStudy in {@link #forbidden} as the output of a
	 * read (STORAGE_PRESHOW_RESOURCES). So the operation-level check passes and the refusal is
	 * made on the study itself: the decision the cache must evaluate like HAPI's read.
	 */
	private final IAuthRule hideForbidden = new IAuthRule() {
		@Override
		public AuthorizationInterceptor.Verdict applyRule(RestOperationTypeEnum theOperation, RequestDetails theRequest,
				IBaseResource theInput, IIdType theInputId, IBaseResource theOutput, IRuleApplier theApplier,
				Set<AuthorizationFlagsEnum> theFlags, Pointcut thePointcut) {
			boolean hidden = theOutput instanceof ImagingStudy study && forbidden.contains(study.getIdElement().getIdPart());
			return new AuthorizationInterceptor.Verdict(hidden ? PolicyEnum.DENY : PolicyEnum.ALLOW, this);
		}

		@Override
		public String getName() {
			return "A may not see the forbidden studies";
		}
	};

	@BeforeAll
	void restrictTokenA() {
		authorization = new AuthorizationInterceptor() {
			@Override
			public List<IAuthRule> buildRuleList(RequestDetails theRequest) {
				String token = theRequest instanceof SystemRequestDetails ? null : theRequest.getHeader("Authorization");
				if (token == null) {
					return new RuleBuilder().allowAll("no token: not part of this test").build();
				}
				return List.of(hideForbidden);
			}
		};
		bean(RestfulServer.class).registerInterceptor(authorization);
	}

	@AfterAll
	void unrestrict() {
		bean(RestfulServer.class).unregisterInterceptor(authorization);
	}

	private String metadata(StoredCt theCt, String theSop) {
		return "dicomweb/studies/" + theCt.study() + "/series/" + theCt.series() + "/instances/" + theSop + "/metadata";
	}

	private long cachedReads() {
		return bean(StudyStore.class).cachedStudyReads();
	}

	/** Reads the instance's metadata twice: the second answer comes from the cache (asserted). */
	private void readTwiceFromCache(StoredCt theCt) {
		assertThat(get(metadata(theCt, theCt.sop()), "application/dicom+json").statusCode()).isEqualTo(200);
		long before = cachedReads();
		HttpResponse<byte[]> again = get(metadata(theCt, theCt.sop()), "application/dicom+json");
		assertThat(again.statusCode()).as(bodyText(again)).isEqualTo(200);
		assertThat(cachedReads()).as("the second read is served from the parsed study").isEqualTo(before + 1);
	}

	/** The stored study with its one instance under another SOP Instance UID. */
	private static ImagingStudy withInstanceRenamed(ImagingStudy theStudy, String theNewSop) {
		theStudy.getSeriesFirstRep().getInstanceFirstRep().setUid(theNewSop);
		return theStudy;
	}

	@Test
	void aStudyChangedByFhirPutIsNeverServedStale() {
		StoredCt ct = storeCt();
		readTwiceFromCache(ct);

		String renamed = DicomFixtures.newSopUid();
		ImagingStudy study = withInstanceRenamed(parse(ImagingStudy.class, getJson("ImagingStudy/" + ct.study())), renamed);
		HttpResponse<byte[]> put = put("ImagingStudy/" + ct.study(), FHIR_JSON, encode(study).getBytes(StandardCharsets.UTF_8));
		assertThat(put.statusCode()).as(bodyText(put)).isEqualTo(200);

		assertThat(get(metadata(ct, ct.sop()), "application/dicom+json").statusCode()).as("the old instance is gone").isEqualTo(404);
		assertThat(get(metadata(ct, renamed), "application/dicom+json").statusCode()).as("the study as it is now").isEqualTo(200);
	}

	@Test
	void aStudyChangedThroughTheDaoAsAnotherServerWouldIsNeverServedStale() {
		StoredCt ct = storeCt();
		readTwiceFromCache(ct);

		// no REST request, no facade: only the database changes, as when another node writes
		DaoRegistry daos = bean(DaoRegistry.class);
		ImagingStudy study = daos.getResourceDao(ImagingStudy.class).read(new IdType("ImagingStudy", ct.study()), new SystemRequestDetails());
		String renamed = DicomFixtures.newSopUid();
		daos.getResourceDao(ImagingStudy.class).update(withInstanceRenamed(study, renamed), new SystemRequestDetails());

		assertThat(get(metadata(ct, ct.sop()), "application/dicom+json").statusCode()).isEqualTo(404);
		assertThat(get(metadata(ct, renamed), "application/dicom+json").statusCode()).isEqualTo(200);
	}

	@Test
	void aStudyDeletedThroughFhirIsNeverServed() {
		StoredCt ct = storeCt();
		readTwiceFromCache(ct);

		// the plugin refuses DELETE ImagingStudy while it lists instances (409); deleting its last
		// instance's Binary through FHIR deletes the study
		HttpResponse<byte[]> deleted = delete("Binary/" + DicomFixtures.sha256(ct.bytes()));
		assertThat(deleted.statusCode()).as(bodyText(deleted)).isEqualTo(200);
		assertThat(getJson("ImagingStudy/" + ct.study()).statusCode()).isEqualTo(410);

		HttpResponse<byte[]> r = get(metadata(ct, ct.sop()), "application/dicom+json");
		assertThat(r.statusCode()).as(bodyText(r)).isEqualTo(404);
		assertThat(get(ct.instance() + "/thumbnail", "image/jpeg").statusCode()).isEqualTo(404);
	}

	@Test
	void aCallerWhoMayNotReadTheStudyIsRefusedExactlyAsBefore() {
		StoredCt other = storeCt();
		forbidden.add(other.study());
		HttpResponse<byte[]> before = send(request(metadata(other, other.sop())).header("Authorization", "Bearer A").GET().build());
		assertThat(before.statusCode()).as(bodyText(before)).isEqualTo(403);

		readTwiceFromCache(other); // kept for a caller who may read it
		long hits = cachedReads();
		for (String path : List.of(metadata(other, other.sop()), other.instance() + "/thumbnail", other.instance() + "/rendered")) {
			HttpResponse<byte[]> after = send(request(path).header("Authorization", "Bearer A").GET().build());
			assertThat(after.statusCode()).as(path + ": " + bodyText(after)).isEqualTo(403);
			assertThat(bodyText(after)).as(path).isEqualTo(bodyText(before));
		}
		assertThat(cachedReads()).as("a refused caller is never served from the cache").isEqualTo(hits);

		// a study A may see is served to A from the cache
		StoredCt own = storeCt();
		send(request(metadata(own, own.sop())).header("Authorization", "Bearer A").GET().build());
		long ownHits = cachedReads();
		HttpResponse<byte[]> mine = send(request(metadata(own, own.sop())).header("Authorization", "Bearer A").GET().build());
		assertThat(mine.statusCode()).as(bodyText(mine)).isEqualTo(200);
		assertThat(cachedReads()).isEqualTo(ownHits + 1);
	}

	/** Counts the ImagingStudy resources HAPI shows: an audit (BALP) or consent hook sees the same calls. */
	@Interceptor
	public static class ShowCounter {
		final AtomicInteger studies = new AtomicInteger();

		@Hook(Pointcut.STORAGE_PRESHOW_RESOURCES)
		public void shown(IPreResourceShowDetails theDetails) {
			for (int i = 0; i < theDetails.size(); i++) {
				if (theDetails.getResource(i) instanceof ImagingStudy) {
					studies.incrementAndGet();
				}
			}
		}
	}

	@Test
	void anotherReadHookSeesEveryRead() {
		StoredCt ct = storeCt();
		readTwiceFromCache(ct);

		ShowCounter counter = new ShowCounter();
		IInterceptorService jpa = bean(IInterceptorService.class);
		jpa.registerInterceptor(counter);
		try {
			long hits = cachedReads();
			for (int i = 0; i < 3; i++) {
				assertThat(get(metadata(ct, ct.sop()), "application/dicom+json").statusCode()).isEqualTo(200);
			}
			assertThat(counter.studies.get()).as("HAPI's read ran for every request").isEqualTo(3);
			assertThat(cachedReads()).isEqualTo(hits);
		} finally {
			jpa.unregisterInterceptor(counter);
		}
	}
}
