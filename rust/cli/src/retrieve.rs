//! C-GET and C-MOVE SCP of `dicom-fhir listen`: the identifier becomes QIDO-RS requests
//! (`dicom_fhir_core::qr::plan_retrieve`) listing the instances; each one is read with WADO-RS
//! (the stored bytes) and sent as a C-STORE sub-operation, one instance in memory at a time:
//! on the requesting association for a C-GET, on an association this listener opens to the
//! configured destination for a C-MOVE. Pending responses carry the counts; a C-CANCEL is
//! honoured between sub-operations. No transcoding: an instance goes only in a presentation
//! context of its SOP class and stored transfer syntax, else its sub-operation fails.

use std::collections::HashSet;

use dicom_fhir_client::qido::qido_page;
use dicom_fhir_client::wado::retrieve_instance;
use dicom_fhir_client::{ClientError, Fhir};
use dicom_fhir_core::dimse::{self, Command};
use dicom_fhir_core::qr::{self, retrieve_status, InstanceToSend, RetrievePlan, SubOperations};
use dicom_ul::association::{Association, AsyncAssociation, AsyncClientAssociation};
use dicom_ul::pdu::{PDataValueType, PresentationContextResultReason};
use dicom_ul::{ClientAssociationOptions, Pdu};
use tokio::net::TcpStream;

use crate::listen::{
    peer_interrupts, send_command, send_data_set, Incoming, Interruption, ListenConfig, Session,
    QIDO_PAGE,
};

/// Most presentation contexts one association proposes (PS3.8: odd ids 1..=255).
const MAX_CONTEXTS: usize = 128;

/// Answers a C-GET-RQ or C-MOVE-RQ whose identifier has arrived. `Err` ends the requesting
/// association (it is gone or broke the protocol); every other problem is a status.
pub(crate) async fn retrieve(session: &mut Session<'_>, incoming: Incoming) -> Result<(), String> {
    let ts = session.transfer_syntax_of(incoming.pc_id);
    let plan = incoming.plan(&ts, qr::plan_retrieve);
    let Session {
        ref mut association,
        fhir,
        config,
        peer,
        ref calling,
        ..
    } = *session;
    let Incoming { command, pc_id, .. } = incoming;
    let is_move = command.field == qr::C_MOVE_RQ;
    let (field, what) = if is_move {
        (qr::C_MOVE_RSP, "C-MOVE")
    } else {
        (qr::C_GET_RSP, "C-GET")
    };
    let refused = |status: u16, comment: String| {
        eprintln!(
            "dicom-fhir listen: {peer} {what} from {calling}: status 0x{status:04X}: {comment}"
        );
        qr::retrieve_response(&command, field, status, None, Some(&comment), false)
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(r) => return send_command(association, pc_id, refused(r.status, r.comment)).await,
    };
    let destination = if is_move {
        let ae = command.move_destination.trim();
        match config.move_destinations.iter().find(|(a, _)| a == ae) {
            Some(d) => Some(d.clone()),
            None => {
                let rsp = refused(
                    retrieve_status::MOVE_DESTINATION_UNKNOWN,
                    format!("move destination {ae:.16} is not configured"),
                );
                return send_command(association, pc_id, rsp).await;
            }
        }
    } else {
        None
    };
    let instances = match instances_of(fhir, &plan, config.max_retrieve_instances).await {
        Ok(list) => list,
        Err((status, comment)) => {
            return send_command(association, pc_id, refused(status, comment)).await
        }
    };
    let mut target = match &destination {
        Some((ae, address)) if !instances.is_empty() => {
            match open_destination(config, ae, address, &instances).await {
                Ok(a) => Some(a),
                Err(e) => {
                    let rsp = refused(
                        retrieve_status::MOVE_DESTINATION_UNKNOWN,
                        format!("destination {ae} not reached: {e}"),
                    );
                    return send_command(association, pc_id, rsp).await;
                }
            }
        }
        _ => None,
    };

    let mut counts = SubOperations {
        remaining: instances.len(),
        ..Default::default()
    };
    let mut failed: Vec<String> = Vec::new();
    let mut last_problem: Option<String> = None;
    let mut cancelled = false;
    let mut message_id: u16 = 0;
    for item in &instances {
        match peer_interrupts(association).await {
            None => {}
            Some(Interruption::Cancel) => {
                cancelled = true;
                break;
            }
            Some(Interruption::Ended(why)) => {
                if let Some(t) = target.take() {
                    let _ = t.abort().await;
                }
                return Err(why);
            }
        }
        message_id = message_id.wrapping_add(1).max(1);
        let outcome = match target.as_mut() {
            Some(t) => {
                let originator = Some((calling.as_str(), command.message_id));
                let o = sub_operation(t, fhir, item, message_id, originator).await;
                if let SubOutcome::Ended(why) = &o {
                    // the destination is gone: the rest cannot be sent
                    eprintln!(
                        "dicom-fhir listen: {peer} {what} from {calling}: destination: {why}"
                    );
                    target = None;
                }
                o
            }
            None => sub_operation(association, fhir, item, message_id, None).await,
        };
        counts.remaining -= 1;
        match outcome {
            SubOutcome::Stored { status, cancel } => {
                cancelled |= cancel;
                if status == dimse::status::SUCCESS {
                    counts.completed += 1;
                } else if status & 0xF000 == 0xB000 {
                    counts.warning += 1;
                } else {
                    counts.failed += 1;
                    failed.push(item.sop_instance.clone());
                    last_problem = Some(format!("C-STORE status 0x{status:04X}"));
                }
            }
            SubOutcome::NotSent(why) => {
                eprintln!(
                    "dicom-fhir listen: {peer} {what} from {calling}: {}: {why}",
                    item.sop_instance
                );
                counts.failed += 1;
                failed.push(item.sop_instance.clone());
                last_problem = Some(why);
            }
            SubOutcome::Ended(why) if !is_move => return Err(why),
            SubOutcome::Ended(why) => {
                counts.failed += 1;
                failed.push(item.sop_instance.clone());
                last_problem = Some(why);
            }
        }
        if is_move && target.is_none() && counts.remaining > 0 {
            // every instance left fails with the destination
            for rest in instances.iter().rev().take(counts.remaining) {
                failed.push(rest.sop_instance.clone());
            }
            counts.failed += counts.remaining;
            counts.remaining = 0;
        }
        if cancelled {
            break;
        }
        if counts.remaining > 0 {
            let pending = qr::retrieve_response(
                &command,
                field,
                retrieve_status::PENDING,
                Some(&counts),
                None,
                false,
            );
            send_command(association, pc_id, pending).await?;
        }
    }
    if let Some(t) = target.take() {
        let _ = t.release().await;
    }
    let status = if cancelled {
        retrieve_status::CANCELLED
    } else {
        counts.final_status()
    };
    eprintln!(
        "dicom-fhir listen: {peer} {what} {} from {calling}: {} completed, {} failed, {} warning, status 0x{status:04X}{}",
        plan.level.name(),
        counts.completed,
        counts.failed,
        counts.warning,
        last_problem.as_deref().map(|p| format!(" (last failure: {p})")).unwrap_or_default()
    );
    let with_list = !failed.is_empty();
    let rsp = qr::retrieve_response(
        &command,
        field,
        status,
        Some(&counts),
        last_problem.as_deref(),
        with_list,
    );
    send_command(association, pc_id, rsp).await?;
    if with_list {
        send_data_set(
            association,
            pc_id,
            &qr::failed_instances_identifier(&ts, &failed),
        )
        .await?;
    }
    Ok(())
}

/// The instances the plan's QIDO requests list, each once, in order; at most `cap`.
async fn instances_of(
    fhir: &Fhir,
    plan: &RetrievePlan,
    cap: usize,
) -> Result<Vec<InstanceToSend>, (u16, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for query in &plan.queries {
        let mut offset = 0;
        loop {
            let page = qido_page(fhir, &query.path, &query.params, QIDO_PAGE, offset)
                .await
                .map_err(server_problem)?;
            let got = page.matches.len();
            for item in page.matches.iter().filter_map(qr::instance_to_send) {
                if seen.insert(item.sop_instance.clone()) {
                    out.push(item);
                }
                if out.len() > cap {
                    return Err((
                        retrieve_status::OUT_OF_RESOURCES_MATCHES,
                        format!("more than {cap} instances: retrieve less at once"),
                    ));
                }
            }
            if !page.more || got == 0 {
                break;
            }
            offset += got;
        }
    }
    Ok(out)
}

/// The status and Error Comment of a server answer that stops a retrieve.
fn server_problem(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Unauthorized(m) => {
            eprintln!("dicom-fhir listen: {m}");
            (
                dimse::status::NOT_AUTHORIZED,
                "the FHIR server refused the listener's credentials".into(),
            )
        }
        e => (retrieve_status::UNABLE_TO_PROCESS, e.to_string()),
    }
}

/// Opens the association to a C-MOVE destination, proposing one presentation context per SOP
/// class and stored transfer syntax of the instances (at most 128).
async fn open_destination(
    config: &ListenConfig,
    ae: &str,
    address: &str,
    instances: &[InstanceToSend],
) -> Result<AsyncClientAssociation<TcpStream>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for i in instances {
        let ts = i
            .transfer_syntax
            .clone()
            .unwrap_or_else(|| "1.2.840.10008.1.2.1".into());
        let pair = (i.sop_class.clone(), ts);
        if !pairs.contains(&pair) && pairs.len() < MAX_CONTEXTS {
            pairs.push(pair);
        }
    }
    let mut options = ClientAssociationOptions::new()
        .calling_ae_title(config.ae_title.clone())
        .called_ae_title(ae.to_string())
        .max_pdu_length(config.max_pdu)
        .read_timeout(config.idle_timeout)
        .write_timeout(config.idle_timeout)
        .connection_timeout(config.idle_timeout);
    for (class, ts) in pairs {
        options = options.with_presentation_context(class, vec![ts]);
    }
    options
        .establish_async(address)
        .await
        .map_err(|e| e.to_string())
}

enum SubOutcome {
    /// The C-STORE-RSP's status; whether a C-CANCEL arrived while waiting for it.
    Stored { status: u16, cancel: bool },
    /// Not sent: no presentation context for it, or the server did not give it.
    NotSent(String),
    /// The association it was sent on is gone.
    Ended(String),
}

/// The accepted presentation context for `sop_class` in `transfer_syntax` in which this side
/// may send a C-STORE-RQ (the requester took the SCP role, or it is the destination's).
fn context_for<A: Association>(
    association: &A,
    sop_class: &str,
    transfer_syntax: &str,
    requester_must_be_scp: bool,
) -> Option<u8> {
    if requester_must_be_scp && !association.requestor_roles_for(sop_class).scp {
        return None;
    }
    association
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && pc.abstract_syntax == sop_class
                && pc.transfer_syntax == transfer_syntax
        })
        .map(|pc| pc.id)
}

/// One C-STORE sub-operation of `item` on `association` (the requester's for a C-GET, the
/// destination's for a C-MOVE, `originator` set).
async fn sub_operation<A: AsyncAssociation<TcpStream> + Send>(
    association: &mut A,
    fhir: &Fhir,
    item: &InstanceToSend,
    message_id: u16,
    originator: Option<(&str, u16)>,
) -> SubOutcome {
    let for_get = originator.is_none();
    // without a context for the stored transfer syntax there is nothing to fetch
    if let Some(ts) = &item.transfer_syntax {
        if context_for(association, &item.sop_class, ts, for_get).is_none() {
            return SubOutcome::NotSent(no_context(&item.sop_class, ts));
        }
    }
    let file = match retrieve_instance(fhir, &item.study, &item.series, &item.sop_instance).await {
        Ok(file) => file,
        Err(e) => return SubOutcome::NotSent(server_problem(e).1),
    };
    let parts = match dimse::split_part10(&file) {
        Ok(p) => p,
        Err(e) => return SubOutcome::NotSent(e.message().to_string()),
    };
    if parts.sop_instance_uid != item.sop_instance {
        return SubOutcome::NotSent("the stored file is of another instance".into());
    }
    let Some(pc_id) = context_for(
        association,
        &parts.sop_class_uid,
        &parts.transfer_syntax,
        for_get,
    ) else {
        return SubOutcome::NotSent(no_context(&parts.sop_class_uid, &parts.transfer_syntax));
    };
    let rq = dimse::store_request(
        message_id,
        &parts.sop_class_uid,
        &parts.sop_instance_uid,
        originator,
    );
    if let Err(e) = send_command(association, pc_id, rq).await {
        return SubOutcome::Ended(e);
    }
    if let Err(e) = send_data_set(association, pc_id, &file[parts.data_set_offset..]).await {
        return SubOutcome::Ended(e);
    }
    drop(file);
    match store_response(association).await {
        Ok((status, cancel)) => SubOutcome::Stored { status, cancel },
        Err(e) => SubOutcome::Ended(e),
    }
}

fn no_context(sop_class: &str, ts: &str) -> String {
    format!("no accepted presentation context for {sop_class} in {ts}")
}

/// Waits for the C-STORE-RSP (one sub-operation is under way at a time); a C-CANCEL-RQ meanwhile is noted (the sub-
/// operation under way completes first, PS3.4 C.4.2.3.1).
async fn store_response<A: AsyncAssociation<TcpStream> + Send>(
    association: &mut A,
) -> Result<(u16, bool), String> {
    let mut cancel = false;
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        let pdu = AsyncAssociation::receive(association)
            .await
            .map_err(|e| format!("no C-STORE response: {e}"))?;
        let values = match pdu {
            Pdu::PData { data } => data,
            Pdu::ReleaseRQ => {
                let _ = AsyncAssociation::send(association, &Pdu::ReleaseRP).await;
                return Err("released during a C-STORE sub-operation".into());
            }
            other => {
                return Err(format!(
                    "{} during a C-STORE sub-operation",
                    other.short_description()
                ))
            }
        };
        for value in values {
            if value.value_type != PDataValueType::Command {
                return Err("a data set while a C-STORE response was awaited".into());
            }
            if bytes.len() + value.data.len() > 64 * 1024 {
                return Err("a command set larger than 64 KiB".into());
            }
            bytes.extend_from_slice(&value.data);
            if !value.is_last {
                continue;
            }
            let command: Command = dimse::read_command(&std::mem::take(&mut bytes))
                .map_err(|e| e.message().to_string())?;
            match command.field {
                qr::C_CANCEL_RQ => cancel = true,
                dimse::C_STORE_RSP => {
                    let status = command.status.unwrap_or(dimse::status::CANNOT_UNDERSTAND);
                    return Ok((status, cancel));
                }
                other => {
                    return Err(format!(
                        "command 0x{other:04X} while a C-STORE response was awaited"
                    ))
                }
            }
        }
    }
}
