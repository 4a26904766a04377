package org.dicomfhir.example.config;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.context.WebServerApplicationContext;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.core.io.Resource;
import org.springframework.http.CacheControl;
import org.springframework.web.servlet.HandlerInterceptor;
import org.springframework.web.servlet.config.annotation.InterceptorRegistry;
import org.springframework.web.servlet.config.annotation.ResourceHandlerRegistry;
import org.springframework.web.servlet.config.annotation.ViewControllerRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;
import org.springframework.web.servlet.resource.PathResourceResolver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Serves the OHIF viewer (the prebuilt {@code dist/} of the npm package {@code @ohif/app}, fetched
 * by {@code scripts/fetch-viewer.sh} into {@code example.viewer-dir}) at the server root, next to
 * the FHIR API at {@code /fhir}. OHIF's dist is built for the root path ({@code PUBLIC_URL=/}), so
 * it is served there rather than below a prefix.
 *
 * <ul>
 *   <li>{@code /app-config.js} is this server's own ({@link ViewerAppConfigController}): one
 *       data source, the DICOMweb facade on the same origin; with SMART on, a login at the
 *       tokens' issuer.
 *   <li>Client-side routes ({@code /viewer?StudyInstanceUIDs=…}, {@code /?…}) fall back to
 *       {@code index.html}; a missing file (a path with an extension) stays a 404.
 *   <li>COOP/COEP headers make the page cross-origin isolated (OHIF uses SharedArrayBuffer for
 *       volume rendering); everything it loads is same-origin.
 * </ul>
 *
 * Without the directory the server runs as before, without a viewer, and says so at startup.
 */
@Configuration
public class ViewerConfig implements WebMvcConfigurer {

	private static final Logger ourLog = LoggerFactory.getLogger(ViewerConfig.class);

	private final Path viewerDir;

	public ViewerConfig(@Value("${example.viewer-dir:}") String viewerDir) {
		this.viewerDir = viewerDir.isBlank() ? null : Path.of(viewerDir).toAbsolutePath().normalize();
	}

	boolean viewerInstalled() {
		return viewerDir != null && Files.isRegularFile(viewerDir.resolve("index.html"));
	}

	@Override
	public void addResourceHandlers(ResourceHandlerRegistry registry) {
		if (!viewerInstalled()) {
			return;
		}
		// Revalidate every time (ETag / Last-Modified): index.html must never be stale, and a local
		// server gains nothing from long-lived caching. (/app-config.js is a controller's, which
		// takes precedence over this catch-all.)
		registry.addResourceHandler("/**")
				.addResourceLocations(viewerDir.toUri().toString())
				.setCacheControl(CacheControl.noCache())
				.resourceChain(false)
				.addResolver(new SinglePageAppResolver());
	}

	@Override
	public void addViewControllers(ViewControllerRegistry registry) {
		if (viewerInstalled()) {
			// The resource handler never resolves an empty path; the study list is the app's root.
			registry.addViewController("/").setViewName("forward:/index.html");
		}
	}

	@Override
	public void addInterceptors(InterceptorRegistry registry) {
		if (!viewerInstalled()) {
			return;
		}
		registry.addInterceptor(new HandlerInterceptor() {
			@Override
			public boolean preHandle(HttpServletRequest request, HttpServletResponse response, Object handler) {
				response.setHeader("Cross-Origin-Opener-Policy", "same-origin");
				response.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
				return true;
			}
		});
	}

	@EventListener
	public void onReady(ApplicationReadyEvent event) {
		if (viewerInstalled()) {
			int port = event.getApplicationContext() instanceof WebServerApplicationContext web
					? web.getWebServer().getPort()
					: -1;
			ourLog.info("OHIF viewer: http://localhost:{}/ (study list; DICOMweb at /fhir/dicomweb)", port);
		} else {
			ourLog.info("No OHIF viewer in {} (example.viewer-dir): scripts/fetch-viewer.sh fetches it",
					viewerDir == null ? "(unset)" : viewerDir);
		}
	}

	/** Files from the viewer directory; paths without a file extension are routes of the app. */
	private static final class SinglePageAppResolver extends PathResourceResolver {
		@Override
		protected Resource getResource(String resourcePath, Resource location) throws IOException {
			Resource file = super.getResource(resourcePath, location);
			if (file != null) {
				return file;
			}
			String lastSegment = resourcePath.substring(resourcePath.lastIndexOf('/') + 1);
			if (lastSegment.contains(".")) {
				return null;
			}
			return super.getResource("index.html", location);
		}
	}
}
