package org.dicomfhir.example.config;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.binstore.FilesystemBinaryStorageSvcImpl;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import jakarta.persistence.EntityManagerFactory;
import org.hibernate.cfg.AvailableSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ComponentScan;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;

/**
 * HAPI FHIR JPA (R4) persistence: storage settings, Hibernate, transactions, binary storage.
 *
 * <p>Like the starter's {@code StarterJpaConfig}, this class carries
 * {@code @ComponentScan("${hapi.fhir.custom-bean-packages:}")}: that is how the dicom-fhir plugin
 * ({@code org.dicomfhir.hapi}) gets into the application context. An empty value scans this package
 * only, which adds nothing.
 */
@Configuration
@EnableTransactionManagement
@EnableConfigurationProperties(ExampleServerProperties.class)
@ComponentScan(basePackages = {"${hapi.fhir.custom-bean-packages:}"})
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	ThreadPoolFactoryConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	// in-memory message channels; batch2 (reindex, expunge, ...) needs its IBrokerClient
	SubscriptionChannelConfig.class
})
public class FhirJpaConfig {

	private static final Logger ourLog = LoggerFactory.getLogger(FhirJpaConfig.class);

	@Bean
	public JpaStorageSettings jpaStorageSettings(ExampleServerProperties props) {
		JpaStorageSettings settings = new JpaStorageSettings();
		settings.setResourceClientIdStrategy(props.getClientIdStrategy());
		if (props.getServerIdStrategy() != null) {
			settings.setResourceServerIdStrategy(props.getServerIdStrategy());
		} else if (props.getClientIdStrategy() == JpaStorageSettings.ClientIdStrategyEnum.ANY) {
			// Numeric server ids could collide with client ids under ANY.
			settings.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		}
		settings.setAllowMultipleDelete(props.isAllowMultipleDelete());
		settings.setDeleteExpungeEnabled(props.isDeleteExpungeEnabled());
		settings.setExpungeEnabled(props.isExpungeEnabled());
		settings.setAllowExternalReferences(props.isAllowExternalReferences());
		long reuse = props.getReuseCachedSearchResultsMillis();
		settings.setReuseCachedSearchResultsForMillis(reuse > 0 ? reuse : null);
		settings.setFetchSizeDefaultMaximum(props.getMaxPageSize());
		ourLog.info(
				"FHIR storage: client id strategy {}, multiple delete {}, expunge {}, delete-expunge {}",
				props.getClientIdStrategy(),
				props.isAllowMultipleDelete(),
				props.isExpungeEnabled(),
				props.isDeleteExpungeEnabled());
		return settings;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	/**
	 * Hibernate properties come from {@code spring.jpa.properties.*}; defaults below match the
	 * starter's (schema by {@code hbm2ddl.auto=update}, Hibernate Search off).
	 */
	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource dataSource,
			JpaProperties jpaProperties,
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		Map<String, Object> hibernate = new HashMap<>(jpaProperties.getProperties());
		hibernate.putIfAbsent(AvailableSettings.SCANNER, "org.hibernate.boot.archive.scan.internal.DisabledScanner");
		hibernate.putIfAbsent(AvailableSettings.HBM2DDL_AUTO, "update");
		hibernate.putIfAbsent(AvailableSettings.STATEMENT_BATCH_SIZE, "20");
		hibernate.putIfAbsent(AvailableSettings.FORMAT_SQL, "false");
		hibernate.putIfAbsent(AvailableSettings.SHOW_SQL, "false");
		hibernate.putIfAbsent(AvailableSettings.USE_QUERY_CACHE, "false");
		hibernate.putIfAbsent(AvailableSettings.USE_SECOND_LEVEL_CACHE, "false");
		hibernate.putIfAbsent("hibernate.search.enabled", "false");
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setJpaPropertyMap(hibernate);
		emf.setDataSource(dataSource);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager txManager = new JpaTransactionManager();
		txManager.setEntityManagerFactory(entityManagerFactory);
		return txManager;
	}

	/**
	 * Where externalized binary content lives. FILESYSTEM (default here) writes every Binary of at
	 * least {@code binary_storage_minimum_binary_size} bytes under
	 * {@code binary_storage_filesystem_base_directory}; DATABASE keeps it in HFJ_BINARY_STORAGE.
	 */
	@Bean
	public IBinaryStorageSvc binaryStorageSvc(ExampleServerProperties props) {
		if (props.getBinaryStorageMode() == ExampleServerProperties.BinaryStorageMode.FILESYSTEM) {
			String dir = props.getBinaryStorageFilesystemBaseDirectory();
			if (dir == null || dir.isBlank()) {
				throw new IllegalStateException(
						"hapi.fhir.binary_storage_filesystem_base_directory must be set when binary_storage_mode=FILESYSTEM");
			}
			FilesystemBinaryStorageSvcImpl svc = new FilesystemBinaryStorageSvcImpl(dir);
			if (props.getBinaryStorageMinimumBinarySize() != null) {
				svc.setMinimumBinarySize(props.getBinaryStorageMinimumBinarySize());
			}
			if (props.getMaxBinarySize() != null) {
				svc.setMaximumBinarySize(props.getMaxBinarySize());
			}
			return svc;
		}
		DatabaseBinaryContentStorageSvcImpl svc = new DatabaseBinaryContentStorageSvcImpl();
		if (props.getMaxBinarySize() != null) {
			svc.setMaximumBinarySize(props.getMaxBinarySize());
		}
		return svc;
	}
}
