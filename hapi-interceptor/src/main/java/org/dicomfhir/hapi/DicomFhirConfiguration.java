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

/**
 * Entry point of the plugin. The official HAPI starter finds it through
 * {@code hapi.fhir.custom-bean-packages: org.dicomfhir.hapi}; nothing else needs configuring.
 */
@Configuration
@EnableConfigurationProperties(DicomFhirProperties.class)
@Import(org.dicomfhir.hapi.dicomweb.DicomWebConfiguration.class)
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
			IIdHelperService<?> theIdHelper) {
		return new StudyWriter(theFhirContext, theDaoRegistry, theTransactionService, theProperties, theIdHelper);
	}

	@Bean
	public StudyIndex dicomFhirStudyIndex(StudyWriter theWriter, DicomFhirProperties theProperties) {
		return new StudyIndex(theWriter, theProperties);
	}

	@Bean
	public DicomStorageInterceptor dicomFhirStorageInterceptor(
			FhirContext theFhirContext,
			StudyIndex theStudyIndex,
			NativeOptions theOptions,
			BinaryBytes theBinaryBytes,
			DaoRegistry theDaoRegistry,
			DicomFhirProperties theProperties,
			SopInstanceIndex theSopInstances) {
		return new DicomStorageInterceptor(theFhirContext, theStudyIndex, theOptions, theBinaryBytes, theDaoRegistry, theProperties,
				theSopInstances);
	}

	@Bean
	public SopInstanceIndex dicomFhirSopInstanceIndex(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new SopInstanceIndex(thePartitionSettings, theTransactions);
	}

	@Bean
	public BinaryIdIndex dicomFhirBinaryIdIndex(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new BinaryIdIndex(thePartitionSettings, theTransactions);
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
			DicomFhirProperties theProperties) {
		return new StudyIndexReconciler(theDaoRegistry, theBinaryBytes, theOptions, theWriter, theProperties);
	}

	@Bean
	public DicomBinaryUploadInterceptor dicomFhirUploadInterceptor(FhirContext theFhirContext, DicomStorageInterceptor theStorage,
			UploadLookup theLookup, SopInstanceIndex theSopInstances, StudyIndex theStudyIndex) {
		return new DicomBinaryUploadInterceptor(theFhirContext, theStorage, theLookup, theSopInstances, theStudyIndex);
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
			ConformanceResources theConformanceResources) {
		return new PluginRegistrar(theJpaInterceptors, theRestfulServer, theStorageInterceptor, theUploadInterceptor,
				theReadBarrier, theConformanceResources);
	}

	@Bean
	public ReadYourWritesInterceptor dicomFhirReadBarrier(StudyIndex theStudyIndex, DicomFhirProperties theProperties) {
		return new ReadYourWritesInterceptor(theStudyIndex, theProperties);
	}

	@Bean
	public ConformanceResources dicomFhirConformanceResources(FhirContext theFhirContext, DaoRegistry theDaoRegistry) {
		return new ConformanceResources(theFhirContext, theDaoRegistry);
	}
}
