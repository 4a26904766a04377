package org.dicomfhir.example.config;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import org.springframework.boot.context.properties.ConfigurationProperties;

import java.util.ArrayList;
import java.util.List;

/**
 * The subset of the official starter's {@code hapi.fhir.*} keys that this example server understands.
 * Key names are the starter's (snake_case, e.g. {@code hapi.fhir.binary_storage_mode}), so one
 * {@code application.yaml} fragment works for both; Spring's relaxed binding maps them onto these
 * camelCase properties.
 */
@ConfigurationProperties(prefix = "hapi.fhir")
public class ExampleServerProperties {

	public enum BinaryStorageMode {
		DATABASE,
		FILESYSTEM
	}

	/** Comma-separated packages scanned for extra Spring beans (read by {@code @ComponentScan}). */
	private String customBeanPackages;

	/** Interceptor classes registered on the RestfulServer (bean of that type if one exists, else new instance). */
	private List<String> customInterceptorClasses = new ArrayList<>();

	private JpaStorageSettings.ClientIdStrategyEnum clientIdStrategy = JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC;
	private JpaStorageSettings.IdStrategyEnum serverIdStrategy;
	private boolean allowMultipleDelete = true;
	private boolean deleteExpungeEnabled = false;
	private boolean expungeEnabled = true;
	private boolean allowExternalReferences = false;
	private long reuseCachedSearchResultsMillis = 0;

	private boolean binaryStorageEnabled = true;
	private BinaryStorageMode binaryStorageMode = BinaryStorageMode.FILESYSTEM;
	private String binaryStorageFilesystemBaseDirectory = "./examples/data/binstore";
	/** Binaries of at least this many bytes are externalized; 1 keeps only empty ones inline. */
	private Integer binaryStorageMinimumBinarySize = 1;
	private Long maxBinarySize;

	private int defaultPageSize = 20;
	private int maxPageSize = 200;
	private boolean defaultPrettyPrint = true;
	private String serverAddress;
	private boolean responseHighlighterEnabled = true;
	private boolean requestLoggingEnabled = true;
	private Cors cors = new Cors();

	/**
	 * {@code hapi.fhir.cors.*}, the starter's keys ({@code allowed_origin}, {@code allow_Credentials})
	 * and defaults: any origin, with credentials. An empty {@code allowed_origin} turns CORS off.
	 */
	public static class Cors {
		private List<String> allowedOrigin = new ArrayList<>(List.of("*"));
		private boolean allowCredentials = true;

		public List<String> getAllowedOrigin() {
			return allowedOrigin;
		}

		public void setAllowedOrigin(List<String> theAllowedOrigin) {
			allowedOrigin = theAllowedOrigin == null ? new ArrayList<>() : theAllowedOrigin;
		}

		public boolean isAllowCredentials() {
			return allowCredentials;
		}

		public void setAllowCredentials(boolean theAllowCredentials) {
			allowCredentials = theAllowCredentials;
		}

		/** The origins given, without blanks ({@code --hapi.fhir.cors.allowed_origin=} gives one empty string). */
		public List<String> origins() {
			return allowedOrigin.stream().filter(o -> o != null && !o.isBlank()).map(String::trim).toList();
		}
	}

	public Cors getCors() {
		return cors;
	}

	public void setCors(Cors theCors) {
		cors = theCors == null ? new Cors() : theCors;
	}

	public String getCustomBeanPackages() {
		return customBeanPackages;
	}

	public void setCustomBeanPackages(String customBeanPackages) {
		this.customBeanPackages = customBeanPackages;
	}

	public List<String> getCustomInterceptorClasses() {
		return customInterceptorClasses;
	}

	public void setCustomInterceptorClasses(List<String> customInterceptorClasses) {
		this.customInterceptorClasses = customInterceptorClasses;
	}

	public JpaStorageSettings.ClientIdStrategyEnum getClientIdStrategy() {
		return clientIdStrategy;
	}

	public void setClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum clientIdStrategy) {
		this.clientIdStrategy = clientIdStrategy;
	}

	public JpaStorageSettings.IdStrategyEnum getServerIdStrategy() {
		return serverIdStrategy;
	}

	public void setServerIdStrategy(JpaStorageSettings.IdStrategyEnum serverIdStrategy) {
		this.serverIdStrategy = serverIdStrategy;
	}

	public boolean isAllowMultipleDelete() {
		return allowMultipleDelete;
	}

	public void setAllowMultipleDelete(boolean allowMultipleDelete) {
		this.allowMultipleDelete = allowMultipleDelete;
	}

	public boolean isDeleteExpungeEnabled() {
		return deleteExpungeEnabled;
	}

	public void setDeleteExpungeEnabled(boolean deleteExpungeEnabled) {
		this.deleteExpungeEnabled = deleteExpungeEnabled;
	}

	public boolean isExpungeEnabled() {
		return expungeEnabled;
	}

	public void setExpungeEnabled(boolean expungeEnabled) {
		this.expungeEnabled = expungeEnabled;
	}

	public boolean isAllowExternalReferences() {
		return allowExternalReferences;
	}

	public void setAllowExternalReferences(boolean allowExternalReferences) {
		this.allowExternalReferences = allowExternalReferences;
	}

	public long getReuseCachedSearchResultsMillis() {
		return reuseCachedSearchResultsMillis;
	}

	public void setReuseCachedSearchResultsMillis(long reuseCachedSearchResultsMillis) {
		this.reuseCachedSearchResultsMillis = reuseCachedSearchResultsMillis;
	}

	public boolean isBinaryStorageEnabled() {
		return binaryStorageEnabled;
	}

	public void setBinaryStorageEnabled(boolean binaryStorageEnabled) {
		this.binaryStorageEnabled = binaryStorageEnabled;
	}

	public BinaryStorageMode getBinaryStorageMode() {
		return binaryStorageMode;
	}

	public void setBinaryStorageMode(BinaryStorageMode binaryStorageMode) {
		this.binaryStorageMode = binaryStorageMode;
	}

	public String getBinaryStorageFilesystemBaseDirectory() {
		return binaryStorageFilesystemBaseDirectory;
	}

	public void setBinaryStorageFilesystemBaseDirectory(String binaryStorageFilesystemBaseDirectory) {
		this.binaryStorageFilesystemBaseDirectory = binaryStorageFilesystemBaseDirectory;
	}

	public Integer getBinaryStorageMinimumBinarySize() {
		return binaryStorageMinimumBinarySize;
	}

	public void setBinaryStorageMinimumBinarySize(Integer binaryStorageMinimumBinarySize) {
		this.binaryStorageMinimumBinarySize = binaryStorageMinimumBinarySize;
	}

	public Long getMaxBinarySize() {
		return maxBinarySize;
	}

	public void setMaxBinarySize(Long maxBinarySize) {
		this.maxBinarySize = maxBinarySize;
	}

	public int getDefaultPageSize() {
		return defaultPageSize;
	}

	public void setDefaultPageSize(int defaultPageSize) {
		this.defaultPageSize = defaultPageSize;
	}

	public int getMaxPageSize() {
		return maxPageSize;
	}

	public void setMaxPageSize(int maxPageSize) {
		this.maxPageSize = maxPageSize;
	}

	public boolean isDefaultPrettyPrint() {
		return defaultPrettyPrint;
	}

	public void setDefaultPrettyPrint(boolean defaultPrettyPrint) {
		this.defaultPrettyPrint = defaultPrettyPrint;
	}

	public String getServerAddress() {
		return serverAddress;
	}

	public void setServerAddress(String serverAddress) {
		this.serverAddress = serverAddress;
	}

	public boolean isResponseHighlighterEnabled() {
		return responseHighlighterEnabled;
	}

	public void setResponseHighlighterEnabled(boolean responseHighlighterEnabled) {
		this.responseHighlighterEnabled = responseHighlighterEnabled;
	}

	public boolean isRequestLoggingEnabled() {
		return requestLoggingEnabled;
	}

	public void setRequestLoggingEnabled(boolean requestLoggingEnabled) {
		this.requestLoggingEnabled = requestLoggingEnabled;
	}
}
