//! `dicom-fhir`: upload folders of DICOM into a FHIR server with the dicom-fhir plugin, inspect
//! what the plugin would derive from a file, and audit the store. See docs/cli.md.
//!
//! This crate is the command line only (arguments, progress bar, printing); uploading and
//! auditing are done by `dicom-fhir-client` (`rust/client`), which the Python module shares.

mod listen;
mod retrieve;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dicom_fhir_client::smart::SigningKey;
use dicom_fhir_client::upload::{Phase, Progress, ProgressEvent, Silent};
use dicom_fhir_client::{
    ClientConfig, ClientError, Fhir, SmartConfig, StowOptions, UploadOptions, VerifyOptions,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "dicom-fhir",
    version,
    about = "Upload, inspect and verify DICOM in a FHIR server with the dicom-fhir plugin"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload every DICOM file under the paths (folders are walked; non-DICOM files and DICOMDIRs
    /// are skipped; invalid or damaged DICOM files fail).
    Upload(UploadArgs),
    /// Show what the plugin would derive from a file: problems, SHA-256, ImagingStudy entry, Patient.
    Inspect(InspectArgs),
    /// Audit the store: Binary hashes, ImagingStudy entries, unlisted Binaries.
    Verify(VerifyArgs),
    /// Serve DICOM (C-ECHO, C-STORE SCP) in front of the FHIR server: every received instance
    /// is stored as with `upload` before its C-STORE response is sent.
    Listen(ListenArgs),
    /// Print the public JWK Set of a SMART Backend Services key, to register the client
    /// (its `kid` is the one the tool sends).
    SmartJwk(SmartJwkArgs),
}

#[derive(Args)]
struct SmartJwkArgs {
    /// PEM private key (RSA or EC P-384)
    #[arg(long, env = "DICOMFHIR_SMART_KEY", value_name = "PEM")]
    smart_key: PathBuf,
    /// JWS algorithm (default from the key: RS384 or ES384)
    #[arg(long, env = "DICOMFHIR_SMART_ALG", value_name = "ALG")]
    smart_alg: Option<String>,
    /// `kid` (default: RFC 7638 thumbprint of the public key)
    #[arg(long, env = "DICOMFHIR_SMART_KID", value_name = "KID")]
    smart_kid: Option<String>,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// FHIR base URL, e.g. http://localhost:8080/fhir
    #[arg(long, env = "DICOMFHIR_SERVER")]
    server: String,
    /// Bearer token (Authorization: Bearer ...); not with --smart-client-id
    #[arg(long, env = "DICOMFHIR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    smart: SmartArgs,
    /// PEM file with CA certificate(s) to trust in addition to the system roots
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Timeout of one HTTP request, in seconds
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Concurrent requests
    #[arg(long, short = 'j', default_value_t = 4)]
    jobs: usize,
    /// No progress bar
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// SMART Backend Services: the tool gets (and renews) its own access token with a private key.
#[derive(Args, Clone)]
struct SmartArgs {
    /// SMART Backend Services client id: the tool fetches and renews its access token itself,
    /// signing with --smart-key (not with --token)
    #[arg(long, env = "DICOMFHIR_SMART_CLIENT_ID", value_name = "ID")]
    smart_client_id: Option<String>,
    /// PEM private key of the SMART client: RSA (signs RS384) or EC P-384 (ES384)
    #[arg(long, env = "DICOMFHIR_SMART_KEY", value_name = "PEM")]
    smart_key: Option<PathBuf>,
    /// Token endpoint (default: token_endpoint of <server>/.well-known/smart-configuration)
    #[arg(long, env = "DICOMFHIR_SMART_TOKEN_URL", value_name = "URL")]
    smart_token_url: Option<String>,
    /// Scopes to ask for, space-separated (default: system/*.cruds)
    #[arg(long, env = "DICOMFHIR_SMART_SCOPE", value_name = "SCOPES")]
    smart_scope: Option<String>,
    /// JWS algorithm of the client assertion (default from the key: RS384 or ES384)
    #[arg(long, env = "DICOMFHIR_SMART_ALG", value_name = "ALG")]
    smart_alg: Option<String>,
    /// `kid` of the assertion header (default: RFC 7638 thumbprint of the public key, as
    /// printed by `dicom-fhir smart-jwk`)
    #[arg(long, env = "DICOMFHIR_SMART_KID", value_name = "KID")]
    smart_kid: Option<String>,
}

impl SmartArgs {
    /// The SMART credentials, if any were given; both the client id and the key, or neither.
    fn config(&self) -> Result<Option<SmartConfig>, ClientError> {
        match (&self.smart_client_id, &self.smart_key) {
            (None, None) => {
                if self.smart_token_url.is_some() || self.smart_scope.is_some() {
                    return Err(ClientError::Config(
                        "--smart-token-url and --smart-scope need --smart-client-id and --smart-key".into(),
                    ));
                }
                Ok(None)
            }
            (Some(_), None) => Err(ClientError::Config(
                "--smart-client-id needs --smart-key PEM (or DICOMFHIR_SMART_KEY): the private key the client signs its token requests with".into(),
            )),
            (None, Some(_)) => Err(ClientError::Config(
                "--smart-key needs --smart-client-id (or DICOMFHIR_SMART_CLIENT_ID)".into(),
            )),
            (Some(id), Some(key)) => Ok(Some(SmartConfig {
                client_id: id.clone(),
                key_file: key.clone(),
                alg: self.smart_alg.clone(),
                kid: self.smart_kid.clone(),
                scope: self.smart_scope.clone(),
                token_url: self.smart_token_url.clone(),
            })),
        }
    }
}

impl ServerArgs {
    fn client(&self) -> Result<Fhir, ClientError> {
        let mut config = ClientConfig::new(self.server.clone());
        config.smart = self.smart.config()?;
        if config.smart.is_some() && self.token.is_some() {
            return Err(ClientError::Config(
                "give either --token (DICOMFHIR_TOKEN) or SMART Backend Services credentials (--smart-client-id and --smart-key, DICOMFHIR_SMART_CLIENT_ID and DICOMFHIR_SMART_KEY), not both".into(),
            ));
        }
        config.token = self.token.clone();
        config.ca_file = self.ca_file.clone();
        config.timeout = Duration::from_secs(self.timeout.max(1));
        Fhir::new(&config)
    }
}

#[derive(Args)]
struct UploadArgs {
    /// Files and folders
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
    /// Send with STOW-RS (multipart/related) instead of POST Binary
    #[arg(long)]
    stow: bool,
    /// STOW-RS endpoint (default: <server>/dicomweb/studies)
    #[arg(long, value_name = "URL")]
    stow_url: Option<String>,
    /// Instances per STOW-RS request
    #[arg(long, default_value_t = 20)]
    stow_batch: usize,
    /// Retries of a request after a 5xx answer or a timeout (exponential backoff from 0.5 s)
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Send every instance, even those whose Binary is already stored
    #[arg(long)]
    no_resume: bool,
    /// Write the summary, failed and skipped files as JSON to this file
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Args)]
struct ListenArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// AE title of this listener: associations calling another AE title are rejected
    #[arg(long, default_value = "DICOMFHIR", env = "DICOMFHIR_AE_TITLE")]
    ae_title: String,
    /// TCP port (0: any free port, printed at start)
    #[arg(long, default_value_t = 11112, env = "DICOMFHIR_PORT")]
    port: u16,
    /// Address to listen on (default loopback only; 0.0.0.0 or :: for every interface)
    #[arg(long, default_value = "127.0.0.1", env = "DICOMFHIR_BIND")]
    bind: IpAddr,
    /// Calling AE titles allowed to associate, comma-separated or repeated (default: any)
    #[arg(long, value_delimiter = ',', env = "DICOMFHIR_ALLOWED_CALLING_AE")]
    allowed_calling_ae: Vec<String>,
    /// Associations served at once; more wait for a free slot
    #[arg(long, default_value_t = 8)]
    max_associations: usize,
    /// Largest PDU this listener receives, in bytes
    #[arg(long, default_value_t = 116_794)]
    max_pdu: u32,
    /// Largest instance (data set) accepted, in MiB; one is held in memory while it is stored
    #[arg(long, default_value_t = 256)]
    max_instance_mib: usize,
    /// Seconds an association may stay silent before it is dropped
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Retries of an upload after a 5xx answer or a timeout (exponential backoff from 0.5 s)
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Most matches one C-FIND answers (at PATIENT level: studies read); more: status 0xA700
    #[arg(long, default_value_t = 1000)]
    max_find_results: usize,
    /// A C-MOVE destination: AE title and address, AE=host:port; repeated or comma-separated
    #[arg(
        long,
        value_name = "AE=HOST:PORT",
        value_delimiter = ',',
        env = "DICOMFHIR_MOVE_DESTINATIONS"
    )]
    move_destination: Vec<String>,
    /// Most instances one C-GET or C-MOVE sends; more: status 0xA701
    #[arg(long, default_value_t = 100_000)]
    max_retrieve_instances: usize,
}

#[derive(Args)]
struct InspectArgs {
    file: PathBuf,
    /// One JSON object: the parse result of the native contract plus `dicomJson`
    #[arg(long)]
    json: bool,
    /// Identifier system for PatientID when IssuerOfPatientID is absent
    #[arg(long)]
    patient_identifier_system: Option<String>,
    /// UTC offset such as +01:00 for dates/times without TimezoneOffsetFromUTC
    #[arg(long)]
    default_timezone: Option<String>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this Study Instance UID
    #[arg(long, value_name = "UID")]
    study: Option<String>,
    /// Re-upload unlisted Binaries and remove entries pointing at missing Binaries, then verify again
    #[arg(long)]
    repair: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect(args),
        Command::Upload(args) => run(|rt| rt.block_on(upload(args))),
        Command::Verify(args) => run(|rt| rt.block_on(verify(args))),
        Command::SmartJwk(args) => smart_jwk(args),
        Command::Listen(args) => run(|rt| rt.block_on(listen(args))),
    }
}

async fn listen(args: ListenArgs) -> Result<ExitCode, ClientError> {
    let fhir = args.server.client()?;
    // Fail at start, not at the first C-STORE, when the server is not a FHIR server with the plugin.
    fhir.preflight().await?;
    let ae_title = args.ae_title.trim().to_string();
    if ae_title.is_empty() || ae_title.len() > 16 {
        return Err(ClientError::Config(
            "--ae-title must have 1 to 16 characters".into(),
        ));
    }
    let mut move_destinations = Vec::new();
    for d in args
        .move_destination
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
    {
        let parsed = d.split_once('=').and_then(|(ae, address)| {
            let (ae, address) = (ae.trim(), address.trim());
            let port_ok = address
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            (!ae.is_empty() && ae.len() <= 16 && port_ok)
                .then(|| (ae.to_string(), address.to_string()))
        });
        match parsed {
            Some(p) => move_destinations.push(p),
            None => {
                return Err(ClientError::Config(format!(
                    "--move-destination {d}: expected AE=host:port (AE title of 1 to 16 characters)"
                )))
            }
        }
    }
    let config = listen::ListenConfig {
        ae_title,
        bind: args.bind,
        port: args.port,
        allowed_calling_ae: args
            .allowed_calling_ae
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        max_associations: args.max_associations.max(1),
        max_pdu: args.max_pdu.clamp(4096, 16 * 1024 * 1024),
        max_instance_bytes: args.max_instance_mib.max(1) * 1024 * 1024,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        retries: args.retries,
        max_find_results: args.max_find_results.max(1),
        move_destinations,
        max_retrieve_instances: args.max_retrieve_instances.max(1),
    };
    listen::listen(fhir, config).await?;
    Ok(ExitCode::SUCCESS)
}

fn smart_jwk(args: SmartJwkArgs) -> ExitCode {
    match SigningKey::from_pem_file(
        &args.smart_key,
        args.smart_alg.as_deref(),
        args.smart_kid.as_deref(),
    ) {
        Ok(key) => {
            let set = serde_json::json!({"keys": [key.public_jwk()]});
            println!("{}", serde_json::to_string_pretty(&set).unwrap());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dicom-fhir: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(f: impl FnOnce(&tokio::runtime::Runtime) -> Result<ExitCode, ClientError>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dicom-fhir: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match f(&rt) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dicom-fhir: {e}");
            ExitCode::from(2)
        }
    }
}

/// indicatif progress: files in the message, bytes on the bar (rate and ETA from bytes).
struct Bar {
    bar: ProgressBar,
    phase: std::sync::Mutex<Option<Phase>>,
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(
            None,
            if quiet {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            },
        );
        Bar {
            bar,
            phase: std::sync::Mutex::new(None),
        }
    }
}

impl Progress for Bar {
    fn update(&self, e: &ProgressEvent) {
        let mut phase = self.phase.lock().unwrap();
        if *phase != Some(e.phase) {
            *phase = Some(e.phase);
            match e.phase {
                Phase::Scanning | Phase::Checking => {
                    self.bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix} {pos}/{len} files [{elapsed_precise}] {msg}",
                        )
                        .unwrap(),
                    );
                    self.bar.set_prefix(e.phase.as_str());
                }
                Phase::Uploading => {
                    self.bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                        )
                        .unwrap()
                        .progress_chars("=> "),
                    );
                    self.bar.set_prefix("uploading");
                    self.bar.reset();
                }
                Phase::Done => {
                    self.bar.finish_and_clear();
                    return;
                }
            }
        }
        match e.phase {
            Phase::Uploading => {
                self.bar.set_length(e.bytes_total);
                self.bar.set_position(e.bytes_done);
                let mut msg = format!("{}/{} files", e.files_done, e.files_total);
                if e.skipped_existing > 0 {
                    msg.push_str(&format!(", {} already stored", e.skipped_existing));
                }
                if e.failed > 0 {
                    msg.push_str(&format!(", {} failed", e.failed));
                }
                self.bar.set_message(msg);
            }
            Phase::Scanning | Phase::Checking => {
                self.bar.set_length(e.files_total);
                self.bar.set_position(e.files_done);
                let mut msg = Vec::new();
                if e.not_dicom > 0 {
                    msg.push(format!("{} not DICOM", e.not_dicom));
                }
                if e.failed > 0 {
                    msg.push(format!("{} failed", e.failed));
                }
                self.bar.set_message(msg.join(", "));
            }
            Phase::Done => {}
        }
    }
    fn note(&self, message: &str) {
        self.bar.suspend(|| eprintln!("{message}"));
    }
}

fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<(), ClientError> {
    let text = serde_json::to_string_pretty(value).unwrap();
    std::fs::write(path, text + "\n")
        .map_err(|e| ClientError::Config(format!("cannot write {}: {e}", path.display())))
}

async fn upload(args: UploadArgs) -> Result<ExitCode, ClientError> {
    let fhir = args.server.client()?;
    let options = UploadOptions {
        jobs: args.server.jobs.max(1),
        retries: args.retries,
        stow: args.stow.then(|| StowOptions {
            url: args
                .stow_url
                .clone()
                .unwrap_or_else(|| format!("{}/dicomweb/studies", fhir.base())),
            batch: args.stow_batch.max(1),
        }),
        resume: !args.no_resume,
        ..Default::default()
    };
    let bar = Arc::new(Bar::new(args.server.quiet));
    let report = dicom_fhir_client::upload(&fhir, &args.paths, &options, bar.clone()).await;
    bar.bar.finish_and_clear();
    let report = report?;
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    let mib = report.bytes_sent as f64 / (1024.0 * 1024.0);
    println!("dicom-fhir upload to {} ({})", report.server, report.mode);
    println!(
        "  {} files, {} DICOM instances, {} not DICOM",
        report.files,
        report.instances,
        report.not_dicom.len()
    );
    println!(
        "  stored {} new, {} unchanged; skipped {} already stored; {} duplicate files",
        report.stored, report.unchanged, report.skipped_existing, report.duplicates
    );
    println!(
        "  sent {mib:.1} MiB in {:.1} s ({:.1} instances/s)",
        report.seconds, report.instances_per_second
    );
    if report.failed.is_empty() {
        println!("  no failures");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("  FAILED: {} files", report.failed.len());
        for f in &report.failed {
            println!("    {}: {}", f.path, f.reason);
        }
        Ok(ExitCode::from(1))
    }
}

fn inspect(args: InspectArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("dicom-fhir: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let options = dicom_fhir_core::DeriveOptions {
        patient_identifier_system: args.patient_identifier_system,
        default_timezone: args.default_timezone,
    };
    let (parsed, mut result) = match dicom_fhir_core::read_instance(&bytes, &options) {
        Ok(r) => r.into_parts(),
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "error": e.message()})
                );
            } else {
                println!("{}: not valid DICOM: {e}", args.file.display());
            }
            return ExitCode::from(1);
        }
    };
    let dicom_json = parsed.dicom_json("");
    if args.json {
        result["valid"] = serde_json::Value::Bool(true);
        result["dicomJson"] = dicom_json;
        println!("{}", serde_json::to_string_pretty(&result).unwrap());
        return ExitCode::SUCCESS;
    }
    let s = |k: &str| result[k].as_str().unwrap_or("").to_string();
    println!("file:               {}", args.file.display());
    println!(
        "SHA-256:            {}  (Binary/{})",
        s("sha256"),
        s("sha256")
    );
    println!("size:               {} bytes", result["size"]);
    println!("Study Instance UID: {}", s("studyInstanceUid"));
    println!("Series Inst. UID:   {}", s("seriesInstanceUid"));
    println!("SOP Instance UID:   {}", s("sopInstanceUid"));
    println!("SOP Class UID:      {}", s("sopClassUid"));
    println!("Transfer Syntax:    {}", s("transferSyntaxUid"));
    println!(
        "Patient identifier: {}|{}",
        result["patientIdentifier"]["system"].as_str().unwrap_or(""),
        result["patientIdentifier"]["value"].as_str().unwrap_or("")
    );
    let warnings = result["warnings"].as_array().cloned().unwrap_or_default();
    if warnings.is_empty() {
        println!("problems:           none");
    } else {
        println!("problems:           {}", warnings.len());
        for w in warnings {
            println!("  - {}", w.as_str().unwrap_or(""));
        }
    }
    println!(
        "\nImagingStudy entry (ImagingStudy/{}):",
        s("studyInstanceUid")
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&result["imagingStudy"]).unwrap()
    );
    println!("\nPatient:");
    println!(
        "{}",
        serde_json::to_string_pretty(&result["patient"]).unwrap()
    );
    println!("\n(DICOM JSON: use --json)");
    ExitCode::SUCCESS
}

async fn verify(args: VerifyArgs) -> Result<ExitCode, ClientError> {
    let fhir = args.server.client()?;
    let options = VerifyOptions {
        study: args.study.clone(),
        repair: args.repair,
        jobs: args.server.jobs.max(1),
    };
    let bar: Arc<dyn Progress> = if args.server.quiet || args.json {
        Arc::new(Silent)
    } else {
        Arc::new(Bar::new(false))
    };
    let report = dicom_fhir_client::verify(&fhir, &options, bar.clone()).await?;
    let mut after = None;
    if args.repair && !report.clean() {
        let again = VerifyOptions {
            repair: false,
            ..options
        };
        after = Some(dicom_fhir_client::verify(&fhir, &again, bar).await?);
    }
    let final_report = after.as_ref().unwrap_or(&report);
    let json = serde_json::json!({"report": report, "afterRepair": after});
    if let Some(path) = &args.report {
        write_json(path, &json)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json).unwrap());
    } else {
        print_verify(&report);
        if let Some(a) = &after {
            println!("\nafter repair:");
            print_verify(a);
        }
    }
    Ok(if final_report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_verify(r: &dicom_fhir_client::VerifyReport) {
    let scope = r
        .study
        .as_deref()
        .map(|s| format!(" (study {s})"))
        .unwrap_or_default();
    println!(
        "dicom-fhir verify {}{scope}: {} studies, {} instance entries, {} Binaries checked",
        r.server, r.studies_checked, r.instances_checked, r.binaries_checked
    );
    if r.clean() {
        println!("  clean: no problems");
        return;
    }
    println!("  {} problems:", r.problems.len());
    for p in &r.problems {
        println!(
            "  [{}] {}{}",
            p.kind,
            p.binary
                .as_deref()
                .map(|b| format!("Binary/{b}: "))
                .unwrap_or_default(),
            p.detail
        );
        if let Some(repair) = &p.repair {
            println!("      repair: {repair}");
        }
    }
}
