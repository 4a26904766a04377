package org.dicomfhir.hapi.dicomweb;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.searchparam.MatchUrlService;
import ca.uhn.fhir.rest.server.RestfulServer;
import org.dicomfhir.hapi.access.StudyAccess;
import org.dicomfhir.hapi.config.DicomFhirProperties;
import org.dicomfhir.hapi.ingest.DicomStorageInterceptor;
import org.dicomfhir.hapi.lookup.BinaryIdLookup;
import org.dicomfhir.hapi.lookup.StudyVersionLookup;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Beans of the DICOMweb facade; imported by the plugin's DicomFhirConfiguration. */
@Configuration
@EnableConfigurationProperties(DicomWebProperties.class)
public class DicomWebConfiguration {

	@Bean
	public StudyStore dicomWebStudyStore(DaoRegistry theDaoRegistry, ObjectProvider<IBinaryStorageSvc> theBinaryStorage,
			DicomWebProperties theProperties, StudyVersionLookup theVersions, StudyAccess theAccess) {
		return new StudyStore(theDaoRegistry, theBinaryStorage, new StudyReadCache(theProperties.getStudyCacheInstances()),
				theVersions, theAccess);
	}

	@Bean
	public StudyVersionLookup dicomWebStudyVersionLookup(ObjectProvider<PartitionSettings> thePartitionSettings,
			IHapiTransactionService theTransactions) {
		return new StudyVersionLookup(thePartitionSettings, theTransactions);
	}

	@Bean
	public QidoService dicomWebQido(FhirContext theFhirContext, StudyStore theStore, DicomWebProperties theProperties,
			MatchUrlService theMatchUrlService, StoredAttributes theStoredAttributes,
			org.dicomfhir.hapi.studywrite.AttributeIndex theAttributeIndex) {
		return new QidoService(theFhirContext, theStore, theProperties, theMatchUrlService, theStoredAttributes, theAttributeIndex);
	}

	@Bean
	public StoredAttributes dicomWebStoredAttributes(StudyStore theStore, DicomWebProperties theProperties) {
		return new StoredAttributes(theStore, theProperties.getQidoStoredAttributesCacheSize());
	}

	@Bean
	public WadoService dicomWebWado(StudyStore theStore, DicomWebProperties theProperties, RenderedImageCache theImages) {
		return new WadoService(theStore, theProperties.getMetadataCacheMegabytes() * 1024L * 1024 / 2, theProperties, theImages);
	}

	@Bean
	public RenderedImageCache dicomWebRenderedImageCache(DicomWebProperties theProperties) {
		return new RenderedImageCache(theProperties::getRenderedCacheBytes);
	}

	@Bean
	public StowService dicomWebStow(DaoRegistry theDaoRegistry, IHapiTransactionService theTransactions, DicomWebProperties theProperties,
			StudyStore theStore, BinaryIdLookup theBinaryIds, DicomStorageInterceptor theStorage,
			ObjectProvider<IBinaryStorageSvc> theBinaryStorage, org.dicomfhir.hapi.access.StudyAccess theAccess) {
		return new StowService(theDaoRegistry, theTransactions, theProperties, theStore, theBinaryIds, theStorage, theBinaryStorage,
				theAccess);
	}

	@Bean
	public DeleteService dicomWebDelete(DaoRegistry theDaoRegistry, StudyStore theStore, org.dicomfhir.hapi.studywrite.StudyWriter theWriter,
			org.dicomfhir.hapi.access.StudyAccess theAccess) {
		return new DeleteService(theDaoRegistry, theStore, theWriter, theAccess);
	}

	@Bean
	public DicomWebInterceptor dicomWebInterceptor(DicomFhirProperties theProperties, QidoService theQido, WadoService theWado,
			StowService theStow, DeleteService theDelete, DicomWebProperties theWebProperties) {
		return new DicomWebInterceptor(theProperties, theQido, theWado, theStow, theDelete, theWebProperties);
	}

	@Bean
	public DicomWebRegistrar dicomWebRegistrar(ObjectProvider<RestfulServer> theRestfulServer, DicomWebInterceptor theInterceptor) {
		return new DicomWebRegistrar(theRestfulServer, theInterceptor);
	}
}
