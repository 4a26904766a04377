package org.dicomfhir.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.svc.IIdHelperService;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

import javax.sql.DataSource;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.config.EndpointAddress;
import org.dicomfhir.hapi.config.NativeOptions;
import org.dicomfhir.hapi.ingest.BinaryBytes;
import org.dicomfhir.hapi.ingest.DicomBinaryUploadInterceptor;
import org.dicomfhir.hapi.ingest.DicomStorageInterceptor;
import org.dicomfhir.hapi.ingest.RequestSizeLimitInterceptor;
import org.dicomfhir.hapi.ingest.StudyIndexReconciler;
import org.dicomfhir.hapi.lookup.BinaryIdLookup;
import org.dicomfhir.hapi.lookup.PatientIdentifierLookup;
import org.dicomfhir.hapi.lookup.UploadLookup;
import org.dicomfhir.hapi.status.DicomStatusProvider;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.dicomweb.DicomWebProperties;
import org.dicomfhir.hapi.smart.PatientResolver;
import org.dicomfhir.hapi.smart.SmartCors;
import org.dicomfhir.hapi.studywrite.PatientConflictException;
import org.dicomfhir.hapi.studywrite.PatientDirectory;
import org.dicomfhir.hapi.studywrite.ReadYourWritesInterceptor;
import org.dicomfhir.hapi.studywrite.StudyWriteHandoff;
import org.dicomfhir.hapi.studywrite.StudyWriter;

/**
 * Entry point of the plugin. The official HAPI starter finds it through
 * {@code hapi.fhir.custom-bean-packages: org.dicomfhir.hapi}; nothing else needs configuring.
 */
@Configuration
@EnableConfigurationProperties(DicomFhirProperties.class)
@Import({org.dicomfhir.hapi.dicomweb.DicomWebConfiguration.class,
		// who may read and change an instance (StudyAccess, the Binary owner check)
		org.dicomfhir.hapi.access.AccessConfiguration.class,
		org.dicomfhir.hapi.smart.SmartConfiguration.class})
public class DicomFhirConfiguration {

	@Bean
	public NativeOptions dicomFhirNativeOptions(DicomFhirProperties theProperties) {
		return new NativeOptions(theProperties);
	}

	@Bean
	public StudyWriter dicomFhirStudyWriter(
			FhirContext theFhirContext,
			DaoRegistry theDaoRegistry,
			IHapiTransactionService theTransactionService,
			DicomFhirProperties theProperties,
			IIdHelperService<?> theIdHelper,
			InstanceLedger theLedger,
			PatientDirectory thePatients,
			EndpointAddress theEndpointAddress) {
		return new StudyWriter(theFhirContext, theDaoRegistry, theTransactionService, theProperties, theIdHelper, theLedger, thePatients,
				theEndpointAddress);
	}

	/** The plugin's table of stored instances, created here (before any request or reconciliation) if missing. */
	@Bean
	public InstanceLedger dicomFhirInstanceLedger(DataSource theDataSource) {
		InstanceLedger ledger = new InstanceLedger(theDataSource);
		ledger.createTableIfMissing();
		return ledger;
	}

	/** The QIDO attribute index's read side; the configured tag set is recorded here (after the ledger made the tables). */
	@Bean
	public org.dicomfhir.hapi.studywrite.AttributeIndex dicomFhirAttributeIndex(DataSource theDataSource, InstanceLedger theLedger,
			NativeOptions theOptions) {
		org.dicomfhir.hapi.studywrite.AttributeIndex index = new org.dicomfhir.hapi.studywrite.AttributeIndex(theDataSource);
		index.registerSet(theOptions.indexSet(), theOptions.indexTags());
		return index;
	}

	@Bean
	public PatientDirectory dicomFhirPatientDirectory(FhirContext theFhirContext, DaoRegistry theDaoRegistry,
			PatientIdentifierLookup theLookup) {
		return new PatientDirectory(theFhirContext, theDaoRegistry, theLookup);
	}

	@Bean
	public PatientIdentifierLookup dicomFhirPatientIdentifierLookup(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new PatientIdentifierLookup(thePartitionSettings, theTransactions);
	}

	/** SMART: a token's patient_identifier, found by the exact-identifier lookup (several Patients: none). */
	@Bean
	public PatientResolver dicomFhirSmartPatientResolver(PatientDirectory thePatients) {
		return (theSystem, theValue) -> {
			try {
				return java.util.Optional.ofNullable(thePatients.idOf(theSystem, theValue));
			} catch (PatientConflictException e) {
				return java.util.Optional.empty();
			}
		};
	}

	/**
	 * SMART: a 401 (answered before any CORS interceptor runs) carries the CORS headers for the
	 * origins the facade allows and those of the host server's CorsInterceptor (the starter's
	 * {@code hapi.fhir.cors.allowed_origin}: exact origins and {@code *}).
	 */
	@Bean
	public SmartCors dicomFhirSmartCors(DicomWebProperties theWebProperties, ObjectProvider<RestfulServer> theServer) {
		return () -> {
			java.util.List<String> origins = new java.util.ArrayList<>(theWebProperties.getCorsAllowedOrigins());
			RestfulServer server = theServer.getIfAvailable();
			if (server != null) {
				for (Object interceptor : server.getInterceptorService().getAllRegisteredInterceptors()) {
					if (interceptor instanceof ca.uhn.fhir.rest.server.interceptor.CorsInterceptor cors && cors.getConfig() != null) {
						java.util.Optional.ofNullable(cors.getConfig().getAllowedOrigins()).ifPresent(origins::addAll);
						java.util.Optional.ofNullable(cors.getConfig().getAllowedOriginPatterns()).ifPresent(origins::addAll);
					}
				}
			}
			return origins;
		};
	}

	@Bean
	public EndpointAddress dicomFhirEndpointAddress(DicomFhirProperties theProperties, ObjectProvider<RestfulServer> theServer,
			org.springframework.core.env.Environment theEnvironment) {
		return new EndpointAddress(theProperties, theServer, theEnvironment);
	}

	@Bean
	public RequestSizeLimitInterceptor dicomFhirRequestSizeLimit(DicomFhirProperties theProperties) {
		return new RequestSizeLimitInterceptor(theProperties);
	}

	@Bean
	public DicomStatusProvider dicomFhirStatusProvider(InstanceLedger theLedger, IHapiTransactionService theTransactions,
			StudyWriter theWriter) {
		return new DicomStatusProvider(theLedger, theTransactions, theWriter);
	}

	@Bean
	public StudyWriteHandoff dicomFhirStudyWriteHandoff(StudyWriter theWriter, DicomFhirProperties theProperties) {
		return new StudyWriteHandoff(theWriter, theProperties);
	}

	@Bean
	public DicomStorageInterceptor dicomFhirStorageInterceptor(
			FhirContext theFhirContext,
			StudyWriteHandoff theHandoff,
			NativeOptions theOptions,
			BinaryBytes theBinaryBytes,
			DicomFhirProperties theProperties,
			InstanceLedger theLedger,
			PatientDirectory thePatients,
			org.dicomfhir.hapi.access.StudyAccess theAccess) {
		// a refused upload logs one line, not HAPI's stack trace of the hook's exception
		if (org.springframework.util.ClassUtils.isPresent("ch.qos.logback.classic.LoggerContext", getClass().getClassLoader())) {
			org.dicomfhir.hapi.ingest.RefusalLogFilter.install();
		}
		return new DicomStorageInterceptor(theFhirContext, theHandoff, theOptions, theBinaryBytes, theProperties,
				theLedger, thePatients, theAccess);
	}

	@Bean
	public BinaryIdLookup dicomFhirBinaryIdLookup(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new BinaryIdLookup(thePartitionSettings, theTransactions);
	}

	@Bean
	public BinaryBytes dicomFhirBinaryBytes(ObjectProvider<IBinaryStorageSvc> theBinaryStorage) {
		return new BinaryBytes(theBinaryStorage);
	}

	@Bean
	public StudyIndexReconciler dicomFhirReconciler(
			DaoRegistry theDaoRegistry,
			BinaryBytes theBinaryBytes,
			NativeOptions theOptions,
			StudyWriter theWriter,
			DicomFhirProperties theProperties,
			InstanceLedger theLedger,
			IHapiTransactionService theTransactions) {
		return new StudyIndexReconciler(theDaoRegistry, theBinaryBytes, theOptions, theWriter, theProperties, theLedger, theTransactions);
	}

	@Bean
	public DicomBinaryUploadInterceptor dicomFhirUploadInterceptor(FhirContext theFhirContext, DicomStorageInterceptor theStorage,
			UploadLookup theLookup, StudyWriteHandoff theHandoff, org.dicomfhir.hapi.access.StudyAccess theAccess) {
		return new DicomBinaryUploadInterceptor(theFhirContext, theStorage, theLookup, theHandoff, theAccess);
	}

	@Bean
	public UploadLookup dicomFhirUploadLookup(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new UploadLookup(thePartitionSettings, theTransactions);
	}

	@Bean
	public PluginRegistrar dicomFhirRegistrar(
			IInterceptorService theJpaInterceptors,
			ObjectProvider<RestfulServer> theRestfulServer,
			DicomStorageInterceptor theStorageInterceptor,
			DicomBinaryUploadInterceptor theUploadInterceptor,
			ReadYourWritesInterceptor theReadBarrier,
			ConformanceResources theConformanceResources,
			RequestSizeLimitInterceptor theSizeLimit,
			DicomStatusProvider theStatus) {
		return new PluginRegistrar(theJpaInterceptors, theRestfulServer, theStorageInterceptor, theUploadInterceptor,
				theReadBarrier, theConformanceResources, theSizeLimit, theStatus);
	}

	@Bean
	public ReadYourWritesInterceptor dicomFhirReadBarrier(StudyWriteHandoff theHandoff, DicomFhirProperties theProperties) {
		return new ReadYourWritesInterceptor(theHandoff, theProperties);
	}

	@Bean
	public ConformanceResources dicomFhirConformanceResources(FhirContext theFhirContext, DaoRegistry theDaoRegistry) {
		return new ConformanceResources(theFhirContext, theDaoRegistry);
	}
}
