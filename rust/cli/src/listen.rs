//! `dicom-fhir listen`: a DICOM upper-layer service (C-ECHO, C-STORE, C-FIND SCP; C-GET and
//! C-MOVE in `retrieve.rs`) in front of a FHIR server. Each association runs in its own tokio
//! task, at most `max_associations` at once;
//! each received instance is stored with the client library's `store_instance` (the `POST
//! Binary` of `dicom-fhir upload`) before its C-STORE-RSP is sent, so the status is the
//! server's answer and a slow server slows the sender down (the association reads nothing more
//! until the upload is answered). The DIMSE rules (command sets, statuses, the Part-10 file) are
//! `dicom_fhir_core::dimse`; here are only the network and the bookkeeping.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dicom_fhir_client::qido::qido_page;
use dicom_fhir_client::upload::{store_instance, StoreOutcome};
use dicom_fhir_client::{ClientError, Fhir, UploadOptions};
use dicom_fhir_core::dimse::{self, status, Command};
use dicom_fhir_core::qr::{self, find_status, Level};
use dicom_ul::association::server::{AccessControl, AsyncServerAssociation, Negotiation};
use dicom_ul::association::{Association, AsyncAssociation};
use dicom_ul::pdu::{
    AssociationRJServiceUserReason, PDataValue, PDataValueType, PresentationContextNegotiated,
    PresentationContextResultReason, RequestorRoles, UserIdentity,
};
use dicom_ul::{Pdu, ServerAssociationOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Longest command set accepted: real ones are a few hundred bytes.
const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Largest C-FIND identifier accepted (10,000 keys are about 100 KiB).
pub(crate) const MAX_IDENTIFIER_BYTES: usize = 1024 * 1024;
/// QIDO page size while answering a C-FIND.
pub(crate) const QIDO_PAGE: usize = 200;

#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub ae_title: String,
    pub bind: IpAddr,
    pub port: u16,
    /// Calling AE titles allowed to associate; empty: any.
    pub allowed_calling_ae: Vec<String>,
    pub max_associations: usize,
    pub max_pdu: u32,
    /// Largest data set of one instance held in memory; a larger one is refused (0xA700).
    pub max_instance_bytes: usize,
    /// An association that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// Retries of an upload after a 5xx/408/429 answer or a timeout.
    pub retries: u32,
    /// Most matches one C-FIND answers (studies read, at PATIENT level); beyond: 0xA700.
    pub max_find_results: usize,
    /// C-MOVE destinations: AE title and `host:port`.
    pub move_destinations: Vec<(String, String)>,
    /// Most instances one C-GET or C-MOVE sends; beyond: 0xA701.
    pub max_retrieve_instances: usize,
}

/// Who may associate: the called AE title must be ours; the calling one, when a list is given,
/// in it.
#[derive(Debug, Clone)]
struct AllowList {
    called: String,
    calling: Vec<String>,
}

impl AccessControl for AllowList {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != self.called {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.calling.is_empty() && !self.calling.iter().any(|a| a == calling_ae_title.trim()) {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// SCU/SCP role selection (PS3.7 D.3.3.4): a C-GET requester proposes to be the SCP of the
/// storage SOP classes it wants to receive; that is granted. Nothing else is negotiated.
#[derive(Debug, Clone, Copy)]
struct Roles;

impl Negotiation for Roles {
    fn negotiate_roles(&self, sop_class_uid: &str, scu: bool, scp: bool) -> Option<RequestorRoles> {
        dimse::is_storage_sop_class(sop_class_uid).then_some(RequestorRoles { scu, scp })
    }
}

type Options = ServerAssociationOptions<'static, AllowList, Roles>;

fn association_options(config: &ListenConfig) -> Options {
    let mut options = ServerAssociationOptions::new()
        .with_negotiation(Roles)
        .ae_access_control(AllowList {
            called: config.ae_title.clone(),
            calling: config.allowed_calling_ae.clone(),
        })
        .ae_title(config.ae_title.clone())
        .max_pdu_length(config.max_pdu)
        .strict(true)
        .read_timeout(config.idle_timeout)
        .write_timeout(config.idle_timeout)
        .with_abstract_syntax(dimse::VERIFICATION);
    for uid in dimse::STORAGE_SOP_CLASSES
        .iter()
        .chain(qr::FIND_SOP_CLASSES)
        .chain(qr::RETRIEVE_SOP_CLASSES)
    {
        options = options.with_abstract_syntax(*uid);
    }
    // No transfer syntax list: the first proposed one whose data set can be read is accepted,
    // and the instance is stored in it.
    options
}

/// Binds, prints `listening on <addr>` (the real port when `--port 0`), and serves until
/// SIGINT/SIGTERM; then stops accepting and lets running associations finish.
pub async fn listen(fhir: Fhir, config: ListenConfig) -> Result<(), ClientError> {
    let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port))
        .await
        .map_err(|e| {
            ClientError::Config(format!(
                "cannot listen on {}:{}: {e}",
                config.bind, config.port
            ))
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| ClientError::Config(e.to_string()))?;
    println!(
        "dicom-fhir listen: {} listening on {local}, storing into {}",
        config.ae_title,
        fhir.base()
    );
    let options = Arc::new(association_options(&config));
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_associations.max(1)));
    let mut stop = Box::pin(shutdown_signal());
    loop {
        // A slot first: when all are busy, new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("never closed"),
            _ = &mut stop => break,
        };
        let (socket, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("dicom-fhir listen: accept failed: {e}");
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let (fhir, options, config) = (fhir.clone(), options.clone(), config.clone());
        tokio::spawn(async move {
            serve(socket, peer, &fhir, &options, &config).await;
            drop(permit);
        });
    }
    eprintln!("dicom-fhir listen: stopping; waiting for running associations");
    let all = config.max_associations.max(1) as u32;
    let _ = tokio::time::timeout(config.idle_timeout, slots.acquire_many(all)).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The C-STORE or C-FIND in progress on an association: its command and the data set received
/// so far.
pub(crate) struct Incoming {
    pub(crate) command: Command,
    pub(crate) pc_id: u8,
    pub(crate) data: Vec<u8>,
    /// The data set grew past `max_instance_bytes`: the rest is read and dropped.
    pub(crate) too_large: bool,
}

impl Incoming {
    /// The plan of a C-FIND, C-GET or C-MOVE from its identifier (received in `ts`), made by
    /// `plan`; an identifier too large to keep is refused (0xC000) without reading it.
    pub(crate) fn plan<P>(
        &self,
        ts: &str,
        plan: impl FnOnce(&str, &str, &[u8]) -> Result<P, qr::FindRefusal>,
    ) -> Result<P, qr::FindRefusal> {
        if self.too_large {
            Err(qr::FindRefusal {
                status: find_status::UNABLE_TO_PROCESS,
                comment: format!("identifier larger than {MAX_IDENTIFIER_BYTES} bytes"),
            })
        } else {
            plan(&self.command.affected_sop_class_uid, ts, &self.data)
        }
    }
}

/// One established association and what each C-STORE, C-FIND, C-GET or C-MOVE on it needs:
/// the FHIR client, the configuration, the negotiated presentation contexts, and who is at
/// the other end (for the log).
pub(crate) struct Session<'a> {
    pub(crate) association: AsyncServerAssociation<TcpStream>,
    pub(crate) fhir: &'a Fhir,
    pub(crate) config: &'a ListenConfig,
    pub(crate) contexts: Vec<PresentationContextNegotiated>,
    pub(crate) peer: SocketAddr,
    pub(crate) calling: String,
}

impl Session<'_> {
    /// The transfer syntax negotiated for presentation context `pc_id` ("" when none was).
    pub(crate) fn transfer_syntax_of(&self, pc_id: u8) -> String {
        self.contexts
            .iter()
            .find(|pc| pc.id == pc_id)
            .map(|pc| pc.transfer_syntax.clone())
            .unwrap_or_default()
    }
}

/// One association, start to end; every problem ends only this association.
async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    fhir: &Fhir,
    options: &Options,
    config: &ListenConfig,
) {
    let association = match options.establish_async(socket).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dicom-fhir listen: {peer}: association not established: {e}");
            return;
        }
    };
    let mut session = Session {
        calling: association.peer_ae_title().trim().to_string(),
        contexts: association.presentation_contexts().to_vec(),
        association,
        fhir,
        config,
        peer,
    };
    let calling = session.calling.clone();
    let mut command_bytes: Vec<u8> = Vec::new();
    let mut incoming: Option<Incoming> = None;
    let mut stored = 0u64;
    let mut failed = 0u64;
    loop {
        let pdu = match session.association.receive().await {
            Ok(pdu) => pdu,
            Err(e) => {
                // a PDU that cannot be read (too large, malformed), a silent peer, or a closed
                // connection: an A-ABORT is the last word where the connection still stands
                eprintln!("dicom-fhir listen: {peer} {calling}: association ended: {e}");
                let _ = session.association.abort().await;
                return;
            }
        };
        let values = match pdu {
            Pdu::PData { data } => data,
            Pdu::ReleaseRQ => {
                let _ = session.association.send(&Pdu::ReleaseRP).await;
                eprintln!("dicom-fhir listen: {peer} {calling}: released ({stored} stored, {failed} failed)");
                return;
            }
            Pdu::AbortRQ { .. } => {
                eprintln!("dicom-fhir listen: {peer} {calling}: aborted by the peer ({stored} stored, {failed} failed)");
                return;
            }
            other => {
                eprintln!(
                    "dicom-fhir listen: {peer} {calling}: unexpected {}, aborting",
                    other.short_description()
                );
                let _ = session.association.abort().await;
                return;
            }
        };
        for value in values {
            let step = match value.value_type {
                PDataValueType::Command => {
                    if incoming.is_some() {
                        Err("a command before the data set of the previous C-STORE".to_string())
                    } else if command_bytes.len() + value.data.len() > MAX_COMMAND_BYTES {
                        Err("a command set larger than 64 KiB".to_string())
                    } else {
                        command_bytes.extend_from_slice(&value.data);
                        if value.is_last {
                            let bytes = std::mem::take(&mut command_bytes);
                            on_command(&mut session, value.presentation_context_id, &bytes)
                                .await
                                .map(|next| incoming = next)
                        } else {
                            Ok(())
                        }
                    }
                }
                PDataValueType::Data => match incoming.as_mut() {
                    None => Err("a data set without a C-STORE command".to_string()),
                    Some(i) if i.pc_id != value.presentation_context_id => Err(
                        "a data set on another presentation context than its command".to_string(),
                    ),
                    Some(i) => {
                        let query = matches!(
                            i.command.field,
                            qr::C_FIND_RQ | qr::C_GET_RQ | qr::C_MOVE_RQ
                        );
                        let limit = if query {
                            MAX_IDENTIFIER_BYTES
                        } else {
                            config.max_instance_bytes
                        };
                        if !i.too_large {
                            if i.data.len() + value.data.len() > limit {
                                i.too_large = true;
                                i.data = Vec::new();
                            } else {
                                i.data.extend_from_slice(&value.data);
                            }
                        }
                        if !value.is_last {
                            Ok(())
                        } else {
                            let done = incoming.take().expect("matched above");
                            match done.command.field {
                                qr::C_FIND_RQ => find(&mut session, done).await,
                                qr::C_GET_RQ | qr::C_MOVE_RQ => {
                                    crate::retrieve::retrieve(&mut session, done).await
                                }
                                _ => store(&mut session, done).await.map(|ok| {
                                    if ok {
                                        stored += 1
                                    } else {
                                        failed += 1
                                    }
                                }),
                            }
                        }
                    }
                },
            };
            if let Err(problem) = step {
                eprintln!("dicom-fhir listen: {peer} {calling}: {problem}, aborting");
                let _ = session.association.abort().await;
                return;
            }
        }
    }
}

pub(crate) async fn send_command<A: AsyncAssociation<TcpStream> + Send>(
    association: &mut A,
    pc_id: u8,
    data: Vec<u8>,
) -> Result<(), String> {
    AsyncAssociation::send(
        association,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data,
            }],
        },
    )
    .await
    .map_err(|e| format!("cannot send a response: {e}"))
}

/// Answers a complete command set; returns the C-STORE whose data set comes next, if any.
async fn on_command(
    session: &mut Session<'_>,
    pc_id: u8,
    bytes: &[u8],
) -> Result<Option<Incoming>, String> {
    let command = dimse::read_command(bytes).map_err(|e| e.message().to_string())?;
    let association = &mut session.association;
    let accepted = session
        .contexts
        .iter()
        .any(|pc| pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance);
    if !accepted {
        return Err(format!(
            "a command on presentation context {pc_id}, which was not accepted"
        ));
    }
    match command.field {
        dimse::C_ECHO_RQ => {
            send_command(association, pc_id, dimse::echo_response(&command)).await?;
            Ok(None)
        }
        dimse::C_STORE_RQ | qr::C_FIND_RQ | qr::C_GET_RQ | qr::C_MOVE_RQ
            if command.has_data_set =>
        {
            Ok(Some(Incoming {
                command,
                pc_id,
                data: Vec::new(),
                too_large: false,
            }))
        }
        // a C-CANCEL after its C-FIND has ended: nothing to cancel, no response (PS3.7 9.3.2.3)
        qr::C_CANCEL_RQ => Ok(None),
        _ if command.has_data_set => Err(format!(
            "command 0x{:04X} with a data set, which this listener does not provide",
            command.field
        )),
        _ => {
            send_command(association, pc_id, dimse::unrecognized_response(&command)).await?;
            Ok(None)
        }
    }
}

/// Stores one received instance and sends its C-STORE-RSP; `Ok(true)` when stored.
async fn store(session: &mut Session<'_>, incoming: Incoming) -> Result<bool, String> {
    let ts = session.transfer_syntax_of(incoming.pc_id);
    let Incoming {
        command,
        pc_id,
        data,
        too_large,
    } = incoming;
    let what = format!(
        "{} from {}",
        command.affected_sop_instance_uid, session.calling
    );
    let (code, comment) = if too_large {
        (
            status::OUT_OF_RESOURCES,
            Some(format!(
                "instance larger than {} bytes",
                session.config.max_instance_bytes
            )),
        )
    } else {
        // Parsing a large data set is CPU work: off the async workers.
        let (command_copy, calling_copy) = (command.clone(), session.calling.clone());
        let checked = tokio::task::spawn_blocking(move || {
            dimse::part10_from_c_store(&command_copy, &ts, &calling_copy, &data)
        })
        .await
        .unwrap_or_else(|_| {
            Err(dimse::StoreRefusal {
                status: status::CANNOT_UNDERSTAND,
                comment: "the data set could not be read".into(),
            })
        });
        match checked {
            Err(refusal) => (refusal.status, Some(refusal.comment)),
            Ok(part10) => {
                let options = UploadOptions {
                    retries: session.config.retries,
                    ..Default::default()
                };
                let note = |m: &str| eprintln!("dicom-fhir listen: {m}");
                match store_instance(session.fhir, part10, &what, &options, &note).await {
                    Ok(StoreOutcome::Created | StoreOutcome::Unchanged) => (status::SUCCESS, None),
                    Ok(StoreOutcome::Refused { http, reason }) => {
                        (dimse::store_status_for_http(http), Some(reason))
                    }
                    Err(ClientError::Unauthorized(m)) => (status::NOT_AUTHORIZED, Some(m)),
                    Err(e) => (status::OUT_OF_RESOURCES, Some(e.to_string())),
                }
            }
        }
    };
    match &comment {
        None => eprintln!("dicom-fhir listen: {} {what}: stored", session.peer),
        Some(c) => eprintln!(
            "dicom-fhir listen: {} {what}: status 0x{code:04X}: {c}",
            session.peer
        ),
    }
    let response = dimse::store_response(&command, code, comment.as_deref());
    send_command(&mut session.association, pc_id, response).await?;
    Ok(code == status::SUCCESS)
}

/// Sends a data set on `pc_id` in P-DATA fragments that fit the peer's largest PDU.
pub(crate) async fn send_data_set<A: AsyncAssociation<TcpStream> + Send>(
    association: &mut A,
    pc_id: u8,
    data: &[u8],
) -> Result<(), String> {
    let peer_max = association.peer_max_pdu_length() as usize;
    // PDU header (6) + PDV item header (6); 0 means no limit
    let chunk = if peer_max == 0 {
        64 * 1024
    } else {
        peer_max.max(4096) - 12
    };
    let parts: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(chunk).collect()
    };
    let total = parts.len();
    for (i, part) in parts.into_iter().enumerate() {
        AsyncAssociation::send(
            association,
            &Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc_id,
                    value_type: PDataValueType::Data,
                    is_last: i + 1 == total,
                    data: part.to_vec(),
                }],
            },
        )
        .await
        .map_err(|e| format!("cannot send a data set: {e}"))?;
    }
    Ok(())
}

/// What the peer sent while a C-FIND, C-GET or C-MOVE was being answered.
pub(crate) enum Interruption {
    Cancel,
    /// Released or aborted by the peer, or the connection is gone: stop, end the association.
    Ended(String),
}

/// Reads what the peer has already sent, without waiting: a C-CANCEL-RQ, or the end of the
/// association. `receive` keeps a partly read PDU in the association's buffer, so dropping it
/// when nothing is ready loses nothing.
pub(crate) async fn peer_interrupts(
    association: &mut AsyncServerAssociation<TcpStream>,
) -> Option<Interruption> {
    let pdu = tokio::select! {
        biased;
        pdu = association.receive() => pdu,
        _ = std::future::ready(()) => return None,
    };
    match pdu {
        Ok(Pdu::PData { data }) => {
            let cancel = data.iter().any(|v| {
                v.value_type == PDataValueType::Command
                    && dimse::read_command(&v.data).is_ok_and(|c| c.field == qr::C_CANCEL_RQ)
            });
            if cancel {
                Some(Interruption::Cancel)
            } else {
                Some(Interruption::Ended(
                    "a command other than C-CANCEL during a C-FIND, C-GET or C-MOVE".into(),
                ))
            }
        }
        Ok(Pdu::ReleaseRQ) => {
            let _ = association.send(&Pdu::ReleaseRP).await;
            Some(Interruption::Ended(
                "released during a query or retrieve".into(),
            ))
        }
        Ok(other) => Some(Interruption::Ended(format!(
            "{} during a query or retrieve",
            other.short_description()
        ))),
        Err(e) => Some(Interruption::Ended(format!(
            "connection lost during a query or retrieve: {e}"
        ))),
    }
}

/// Answers a C-FIND from QIDO-RS: a pending response per match (page after page, at most
/// `max_find_results`), then the final status; a C-CANCEL ends it with 0xFE00.
async fn find(session: &mut Session<'_>, incoming: Incoming) -> Result<(), String> {
    let plan = incoming.plan(&session.transfer_syntax_of(incoming.pc_id), qr::plan_find);
    let (peer, calling) = (session.peer, session.calling.as_str());
    let Incoming { command, pc_id, .. } = incoming;
    let plan = match plan {
        Ok(plan) => plan,
        Err(refusal) => {
            eprintln!(
                "dicom-fhir listen: {peer} C-FIND from {calling}: status 0x{:04X}: {}",
                refusal.status, refusal.comment
            );
            let rsp = qr::find_response(&command, refusal.status, Some(&refusal.comment));
            return send_command(&mut session.association, pc_id, rsp).await;
        }
    };
    let mut sent = 0usize;
    let mut read = 0usize;
    let mut offset = 0usize;
    let mut patients = std::collections::HashSet::new();
    let mut keys_ignored = false;
    let cap = session.config.max_find_results;
    let (code, comment): (u16, Option<String>) = 'pages: loop {
        let limit = QIDO_PAGE.min(cap + 1 - read.min(cap)).max(1);
        let page = match qido_page(session.fhir, &plan.path, &plan.params, limit, offset).await {
            Ok(page) => page,
            Err(e) => break 'pages (find_status::UNABLE_TO_PROCESS, Some(e.to_string())),
        };
        keys_ignored |= page.keys_ignored;
        let got = page.matches.len();
        for item in &page.matches {
            read += 1;
            if read > cap {
                let what = if plan.level == Level::Patient {
                    "studies"
                } else {
                    "matches"
                };
                break 'pages (
                    find_status::OUT_OF_RESOURCES,
                    Some(format!("more than {cap} {what}: narrow the query")),
                );
            }
            if plan.level == Level::Patient && !patients.insert(qr::patient_identity(item)) {
                continue;
            }
            match peer_interrupts(&mut session.association).await {
                None => {}
                Some(Interruption::Cancel) => break 'pages (find_status::CANCELLED, None),
                Some(Interruption::Ended(why)) => return Err(why),
            }
            let pending = if keys_ignored {
                find_status::PENDING_KEYS_NOT_SUPPORTED
            } else {
                plan.pending_status()
            };
            let identifier = plan.response_identifier(item, &session.config.ae_title);
            send_command(
                &mut session.association,
                pc_id,
                qr::find_response(&command, pending, None),
            )
            .await?;
            send_data_set(&mut session.association, pc_id, &identifier).await?;
            sent += 1;
        }
        if !page.more || got == 0 {
            break 'pages (find_status::SUCCESS, None);
        }
        offset += got;
    };
    match &comment {
        None => eprintln!(
            "dicom-fhir listen: {peer} C-FIND {} from {calling}: {sent} matches, status 0x{code:04X}",
            plan.level.name()
        ),
        Some(c) => eprintln!(
            "dicom-fhir listen: {peer} C-FIND {} from {calling}: {sent} matches, status 0x{code:04X}: {c}",
            plan.level.name()
        ),
    }
    send_command(
        &mut session.association,
        pc_id,
        qr::find_response(&command, code, comment.as_deref()),
    )
    .await
}
