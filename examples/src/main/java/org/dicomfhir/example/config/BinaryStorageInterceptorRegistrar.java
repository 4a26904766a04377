package org.dicomfhir.example.config;

import ca.uhn.fhir.IHapiBootOrder;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.binary.interceptor.BinaryStorageInterceptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.event.ContextRefreshedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;

/**
 * Registers HAPI's {@link BinaryStorageInterceptor} (which moves Binary content out of the resource
 * into the {@code IBinaryStorageSvc}) on the JPA interceptor service, so it runs for every write —
 * REST, transaction bundles and direct DAO calls alike. Same place and timing as the starter.
 */
@Component
public class BinaryStorageInterceptorRegistrar {

	private static final Logger ourLog = LoggerFactory.getLogger(BinaryStorageInterceptorRegistrar.class);

	private final IInterceptorService interceptorService;
	private final ObjectProvider<BinaryStorageInterceptor<?>> binaryStorageInterceptor;
	private final ExampleServerProperties props;

	public BinaryStorageInterceptorRegistrar(
			IInterceptorService interceptorService,
			ObjectProvider<BinaryStorageInterceptor<?>> binaryStorageInterceptor,
			ExampleServerProperties props) {
		this.interceptorService = interceptorService;
		this.binaryStorageInterceptor = binaryStorageInterceptor;
		this.props = props;
	}

	@EventListener(ContextRefreshedEvent.class)
	@Order(IHapiBootOrder.REGISTER_INTERCEPTORS)
	public void register() {
		if (!props.isBinaryStorageEnabled()) {
			ourLog.info("Binary storage disabled; BinaryStorageInterceptor not registered");
			return;
		}
		BinaryStorageInterceptor<?> interceptor = binaryStorageInterceptor.getObject();
		if (!interceptorService.getAllRegisteredInterceptors().contains(interceptor)) {
			ourLog.info("Registering BinaryStorageInterceptor on the JPA interceptor service");
			interceptorService.registerInterceptor(interceptor);
		}
	}
}
