package org.dicomfhir.hapi.status;

import ca.uhn.fhir.jpa.dao.tx.IHapiTransactionService;
import ca.uhn.fhir.rest.annotation.Operation;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.StringType;

import java.util.EnumSet;
import java.util.List;
import org.dicomfhir.hapi.studywrite.InstanceLedger;
import org.dicomfhir.hapi.studywrite.StudyWriter;

/**
 * {@code GET [base]/$dicom-status}: what the operator needs to know about stored instances that
 * are not (yet) where they belong. {@code pending}: stored, not yet listed by their ImagingStudy
 * (normal for a moment after an upload); {@code removing}: deleted, still listed; {@code failed}:
 * whose study write failed for good, each with its reason (the first 100) — these need a person.
 */
public class DicomStatusProvider {

	private static final int FAILURES_SHOWN = 100;

	private final InstanceLedger myLedger;
	private final IHapiTransactionService myTransactions;
	private final StudyWriter myWriter;

	public DicomStatusProvider(InstanceLedger theLedger, IHapiTransactionService theTransactions, StudyWriter theWriter) {
		myLedger = theLedger;
		myTransactions = theTransactions;
		myWriter = theWriter;
	}

	@Operation(name = "$dicom-status", idempotent = true)
	public Parameters status() {
		return myTransactions.withSystemRequest().execute(() -> {
			Parameters out = new Parameters();
			java.util.Map<InstanceLedger.State, Long> counts = myLedger.counts();
			for (InstanceLedger.State state : List.of(InstanceLedger.State.LISTED, InstanceLedger.State.PENDING,
					InstanceLedger.State.REMOVING, InstanceLedger.State.FAILED)) {
				out.addParameter(state.name().toLowerCase(java.util.Locale.ROOT), new IntegerType(counts.getOrDefault(state, 0L).intValue()));
			}
			out.addParameter("failedStudyWritesSinceStart", new IntegerType(myWriter.failedWriteCount()));
			List<InstanceLedger.Row> failed = myLedger.inStates(EnumSet.of(InstanceLedger.State.FAILED), Long.MAX_VALUE, null, FAILURES_SHOWN);
			for (InstanceLedger.Row row : failed) {
				Parameters.ParametersParameterComponent failure = out.addParameter().setName("failure");
				failure.addPart().setName("sopInstanceUid").setValue(new StringType(row.sopInstanceUid()));
				failure.addPart().setName("studyInstanceUid").setValue(new StringType(row.studyInstanceUid()));
				failure.addPart().setName("binary").setValue(new StringType("Binary/" + row.binaryId()));
				failure.addPart().setName("reason").setValue(new StringType(row.failure()));
			}
			return out;
		});
	}
}
