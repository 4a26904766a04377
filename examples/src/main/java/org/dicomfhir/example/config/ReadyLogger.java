package org.dicomfhir.example.config;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.context.WebServerApplicationContext;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

import java.lang.management.ManagementFactory;

/** Logs one line with the FHIR base URL once the server accepts requests. */
@Component
public class ReadyLogger {

	private static final Logger ourLog = LoggerFactory.getLogger(ReadyLogger.class);

	@EventListener
	public void onReady(ApplicationReadyEvent event) {
		int port = event.getApplicationContext() instanceof WebServerApplicationContext web
				? web.getWebServer().getPort()
				: -1;
		double seconds = ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0;
		ourLog.info("FHIR server ready: http://localhost:{}/fhir (JVM up {}s)", port, String.format("%.1f", seconds));
	}
}
