package org.dicomfhir.hapi;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirResourceDao;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.SortSpec;
import ca.uhn.fhir.rest.api.server.IBundleProvider;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.DateRangeParam;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import org.dicomfhir.bridge.DicomException;
import org.dicomfhir.bridge.DicomInstance;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Basic;
import org.hl7.fhir.r4.model.Binary;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.context.event.EventListener;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Repairs what a crash between a Binary's commit and its ImagingStudy write left behind.
 *
 * <p>Each node keeps a watermark (a {@code Basic} resource): every DICOM Binary stored before it is
 * listed in its ImagingStudy. At start-up the node re-indexes the DICOM Binaries stored since its
 * watermark (minus a safety margin); indexing an instance already listed changes nothing. While
 * running, it advances the watermark once a minute to the oldest write still in flight.
 */
public class StudyIndexReconciler {

	private static final Logger ourLog = LoggerFactory.getLogger(StudyIndexReconciler.class);
	static final String WATERMARK_EXTENSION = "http://dicomfhir.org/fhir/StructureDefinition/index-watermark";
	private static final int PAGE = 100;

	private final DaoRegistry myDaoRegistry;
	private final BinaryBytes myBinaryBytes;
	private final NativeOptions myOptions;
	private final StudyWriter myWriter;
	private final DicomFhirProperties myProperties;
	private ScheduledExecutorService myScheduler;

	public StudyIndexReconciler(
			DaoRegistry theDaoRegistry,
			BinaryBytes theBinaryBytes,
			NativeOptions theOptions,
			StudyWriter theWriter,
			DicomFhirProperties theProperties) {
		myDaoRegistry = theDaoRegistry;
		myBinaryBytes = theBinaryBytes;
		myOptions = theOptions;
		myWriter = theWriter;
		myProperties = theProperties;
	}

	@EventListener(ContextRefreshedEvent.class)
	public synchronized void start() {
		if (myScheduler != null) {
			return;
		}
		myScheduler = Executors.newSingleThreadScheduledExecutor(r -> {
			Thread t = new Thread(r, "dicomfhir-reconciler");
			t.setDaemon(true);
			return t;
		});
		myScheduler.execute(this::reconcileAfterStart);
	}

	private void reconcileAfterStart() {
		try {
			Instant watermark = readWatermark();
			if (watermark != null) {
				Instant since = watermark.minus(Duration.ofSeconds(myProperties.getReconcileMarginSeconds()));
				int count = reconcileSince(since);
				ourLog.info("Start-up reconciliation: {} DICOM Binaries stored since {} re-indexed", count, since);
			}
			writeWatermark(myWriter.indexedUpTo());
		} catch (RuntimeException e) {
			ourLog.error("Start-up reconciliation failed; DICOM Binaries stored before the restart may be missing from their ImagingStudy (run dicom-fhir verify --repair)", e);
			return;
		}
		long every = myProperties.getWatermarkIntervalSeconds();
		myScheduler.scheduleWithFixedDelay(this::advanceWatermark, every, every, TimeUnit.SECONDS);
	}

	private void advanceWatermark() {
		try {
			int retried = myWriter.retryFailed();
			if (retried > 0) {
				ourLog.info("Retrying {} ImagingStudy changes whose write failed", retried);
			}
			writeWatermark(myWriter.indexedUpTo());
		} catch (RuntimeException e) {
			ourLog.warn("Could not advance the index watermark: {}", e.toString());
		}
	}

	/** Re-indexes every DICOM Binary stored at or after {@code theSince}; returns how many. */
	public int reconcileSince(Instant theSince) {
		IFhirResourceDao<Binary> binaryDao = myDaoRegistry.getResourceDao(Binary.class);
		SearchParameterMap query = new SearchParameterMap()
				.add("_tag", new TokenParam(DicomStorageInterceptor.TAG_SYSTEM, DicomStorageInterceptor.TAG_DICOM));
		query.setLastUpdated(new DateRangeParam(Date.from(theSince), null));
		query.setSort(new SortSpec("_lastUpdated"));
		IBundleProvider found = binaryDao.search(query, new SystemRequestDetails());
		int count = 0;
		for (int from = 0; ; from += PAGE) {
			List<IBaseResource> page = found.getResources(from, from + PAGE);
			if (page.isEmpty()) {
				break;
			}
			List<StudyWriter.Change> changes = new ArrayList<>();
			for (IBaseResource resource : page) {
				byte[] bytes = myBinaryBytes.read((Binary) resource);
				if (bytes == null) {
					continue;
				}
				try {
					changes.add(StudyWriter.Change.add(DicomInstance.parse(bytes, myOptions.derive()), null));
				} catch (DicomException e) {
					ourLog.warn("Binary/{} is tagged DICOM but does not parse: {}", resource.getIdElement().getIdPart(), e.getMessage());
				}
			}
			myWriter.submit(changes).join();
			count += changes.size();
		}
		return count;
	}

	private IdType watermarkId() {
		return new IdType("Basic", "dicomfhir-watermark-" + myProperties.getNodeId());
	}

	private Instant readWatermark() {
		try {
			Basic basic = myDaoRegistry.getResourceDao(Basic.class).read(watermarkId(), new SystemRequestDetails());
			Extension value = basic.getExtensionByUrl(WATERMARK_EXTENSION);
			return value == null ? null : ((DateTimeType) value.getValue()).getValue().toInstant();
		} catch (ResourceNotFoundException | ResourceGoneException e) {
			return null;
		}
	}

	private void writeWatermark(Instant theIndexedUpTo) {
		Basic basic = new Basic();
		basic.setId(watermarkId());
		basic.getCode().setText("dicom-fhir index watermark of node " + myProperties.getNodeId());
		basic.addExtension(WATERMARK_EXTENSION, new DateTimeType(Date.from(theIndexedUpTo)));
		myDaoRegistry.getResourceDao(Basic.class).update(basic, new SystemRequestDetails());
	}
}
