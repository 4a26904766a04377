//! The FHIR REST client shared by the CLI and the Python module: connection settings, the
//! pre-flight check (is this a FHIR server, is the plugin installed), and clear errors.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::smart::{SmartConfig, TokenError, TokenProvider};

pub use dicom_fhir_core::{DICOM_BINARY_TAG_CODE as DICOM_TAG_CODE, DICOM_BINARY_TAG_SYSTEM as DICOM_TAG_SYSTEM};
pub use dicom_fhir_core::EXT_INSTANCE_BINARY as INSTANCE_BINARY_EXT;
pub const FHIR_JSON: &str = "application/fhir+json";
pub const DICOM: &str = "application/dicom";

/// How to reach the server.
#[derive(Clone)]
pub struct ClientConfig {
    /// FHIR base URL, e.g. `http://localhost:8080/fhir`.
    pub server: String,
    /// Bearer token sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// SMART Backend Services credentials: the token is fetched and renewed by the client.
    /// Not together with `token`.
    pub smart: Option<SmartConfig>,
    /// Extra PEM CA certificate(s) trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(server: impl Into<String>) -> Self {
        ClientConfig {
            server: server.into(),
            token: None,
            smart: None,
            ca_file: None,
            timeout: Duration::from_secs(300),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    // never the token
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("smart", &self.smart)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Errors that stop a whole run (as opposed to one file failing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Bad settings (URL, CA file, ...).
    Config(String),
    /// No TCP connection to the server.
    Unreachable(String),
    /// A TLS connection could not be made (certificate not trusted, wrong name, not TLS).
    Tls(String),
    /// 401 or 403.
    Unauthorized(String),
    /// The URL answers but is not a FHIR server (no CapabilityStatement at /metadata).
    NotFhir(String),
    /// A FHIR server without the dicom-fhir plugin.
    PluginMissing(String),
    /// Any other unexpected answer.
    Http(String),
    /// Stopped by the caller (Python progress callback raised, Ctrl-C).
    Cancelled,
}

impl ClientError {
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Config(_) => "config",
            ClientError::Unreachable(_) => "unreachable",
            ClientError::Tls(_) => "tls",
            ClientError::Unauthorized(_) => "unauthorized",
            ClientError::NotFhir(_) => "not-fhir",
            ClientError::PluginMissing(_) => "plugin-missing",
            ClientError::Http(_) => "http",
            ClientError::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Config(m) => write!(f, "configuration error: {m}"),
            ClientError::Unreachable(m) => write!(f, "server unreachable: {m}"),
            ClientError::Tls(m) => write!(f, "TLS error: {m}"),
            ClientError::Unauthorized(m) => write!(f, "not authorized: {m}"),
            ClientError::NotFhir(m) => write!(f, "not a FHIR server: {m}"),
            ClientError::PluginMissing(m) => write!(f, "dicom-fhir plugin not installed: {m}"),
            ClientError::Http(m) => write!(f, "{m}"),
            ClientError::Cancelled => write!(f, "cancelled"),
        }
    }
}
impl std::error::Error for ClientError {}

/// One HTTP answer, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The diagnostics of an OperationOutcome body, else the start of the body.
    pub fn reason(&self) -> String {
        let detail = match self.json() {
            Some(v) if v["resourceType"] == "OperationOutcome" => v["issue"]
                .as_array()
                .map(|issues| {
                    issues
                        .iter()
                        .filter_map(|i| {
                            i["diagnostics"]
                                .as_str()
                                .or_else(|| i["details"]["text"].as_str())
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            _ => String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
                .trim()
                .to_string(),
        };
        let code = self.status.as_u16();
        let text = self.status.canonical_reason().unwrap_or("");
        if detail.is_empty() {
            format!("HTTP {code} {text}")
        } else {
            format!("HTTP {code} {text}: {detail}")
        }
    }
}

/// A request failed before an answer came back.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    /// Timeouts and connection errors are worth a retry.
    pub transient: bool,
    /// The TLS handshake failed (retrying does not help).
    pub tls: bool,
    /// No access token could be had (SMART token endpoint refused, discovery failed): when not
    /// `transient`, the run stops with this error.
    pub fatal: Option<ClientError>,
}

impl SendError {
    /// The error that stops the run, if this is one (a token that cannot be had).
    pub fn stops_run(&self) -> Option<ClientError> {
        self.fatal.clone().filter(|_| !self.transient)
    }
}

impl From<TokenError> for SendError {
    fn from(e: TokenError) -> SendError {
        SendError {
            message: e.error.to_string(),
            transient: e.transient,
            tls: false,
            fatal: Some(e.error),
        }
    }
}

/// Where the `Authorization` header comes from.
#[derive(Clone)]
enum Auth {
    None,
    Static(String),
    /// One provider for all clones of the client, so all requests of a run share its token.
    Smart(Arc<TokenProvider>),
}

/// The FHIR client (cheap to clone).
#[derive(Clone)]
pub struct Fhir {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    ca_file: Option<PathBuf>,
}

impl Fhir {
    pub fn new(config: &ClientConfig) -> Result<Fhir, ClientError> {
        let base = config.server.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::Config(format!("server URL {base:?}: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ClientError::Config(format!(
                "server URL {base:?}: use http:// or https://"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("dicom-fhir/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ClientError::Config(format!("CA file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Config(format!("CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "CA file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        let token = config.token.clone().filter(|t| !t.trim().is_empty());
        let auth = match (token, &config.smart) {
            (Some(_), Some(_)) => {
                return Err(ClientError::Config(
                    "give either a bearer token (--token, DICOMFHIR_TOKEN, token=) or SMART Backend Services credentials (--smart-client-id/--smart-key, DICOMFHIR_SMART_*, smart_client_id=/smart_key=), not both".into(),
                ))
            }
            (Some(t), None) => Auth::Static(t),
            (None, Some(smart)) => {
                Auth::Smart(Arc::new(TokenProvider::new(smart, http.clone(), &base)?))
            }
            (None, None) => Auth::None,
        };
        Ok(Fhir {
            http,
            base,
            auth,
            ca_file: config.ca_file.clone(),
        })
    }

    /// The SMART token provider, when the client authenticates with SMART Backend Services.
    pub fn token_provider(&self) -> Option<&Arc<TokenProvider>> {
        match &self.auth {
            Auth::Smart(p) => Some(p),
            _ => None,
        }
    }

    /// 401/403 become `Unauthorized`, with a hint fitting how this client authenticates.
    pub fn check_auth(&self, answer: &Answer) -> Result<(), ClientError> {
        let base = &self.base;
        match answer.status {
            StatusCode::UNAUTHORIZED => Err(ClientError::Unauthorized(match &self.auth {
                Auth::Smart(_) => format!(
                    "{base} answered 401 Unauthorized to the SMART access token, also to a freshly fetched one ({})",
                    answer.reason()
                ),
                Auth::Static(_) => format!(
                    "{base} answered 401 Unauthorized: the bearer token (--token, DICOMFHIR_TOKEN) was refused; expired? ({})",
                    answer.reason()
                ),
                Auth::None => format!(
                    "{base} answered 401 Unauthorized: give a bearer token with --token or DICOMFHIR_TOKEN, or SMART Backend Services credentials with --smart-client-id and --smart-key ({})",
                    answer.reason()
                ),
            })),
            StatusCode::FORBIDDEN => Err(ClientError::Unauthorized(format!(
                "{base} answered 403 Forbidden: the token is not allowed to do this ({})",
                answer.reason()
            ))),
            _ => Ok(()),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    /// Sends one request and reads the whole answer. With SMART credentials, a 401 makes the
    /// client fetch a new token and send the request once more: a 401 means the server did not
    /// act on the request, so repeating it is safe for every method (the uploads' POSTs are
    /// content-addressed anyway).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, SendError> {
        let body = body.map(bytes::Bytes::from);
        let token = match &self.auth {
            Auth::None => None,
            Auth::Static(t) => Some(t.clone()),
            Auth::Smart(p) => Some(p.token().await?),
        };
        let answer = self
            .send_once(
                method.clone(),
                path,
                headers,
                body.clone(),
                token.as_deref(),
            )
            .await?;
        if let (StatusCode::UNAUTHORIZED, Auth::Smart(p), Some(used)) =
            (answer.status, &self.auth, &token)
        {
            let fresh = p.renew(used).await?;
            return self
                .send_once(method, path, headers, body, Some(&fresh))
                .await;
        }
        Ok(answer)
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<bytes::Bytes>,
        token: Option<&str>,
    ) -> Result<Answer, SendError> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(describe)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(describe)?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// GET with `Accept: application/fhir+json`; errors become `ClientError` (not retried here).
    pub async fn get_json(
        &self,
        path: &str,
    ) -> Result<(StatusCode, Option<Value>, Answer), ClientError> {
        let answer = self
            .send(
                Method::GET,
                path,
                &[(header::ACCEPT, FHIR_JSON.into())],
                None,
            )
            .await
            .map_err(|e| self.connection_error(e))?;
        self.check_auth(&answer)?;
        Ok((answer.status, answer.json(), answer))
    }

    /// A request that got no answer, as the error that stops the run: TLS problems with a hint
    /// about `--ca-file`, everything else as unreachable.
    pub fn connection_error(&self, e: SendError) -> ClientError {
        if let Some(token_problem) = e.fatal {
            return token_problem;
        }
        if !e.tls {
            return ClientError::Unreachable(format!("{}: {}", self.base, e.message));
        }
        let lower = e.message.to_ascii_lowercase();
        let hint = if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            "the server's certificate does not name the host of the URL: use the name it was issued for".to_string()
        } else if lower.contains("certificate") {
            match &self.ca_file {
                Some(path) => format!(
                    "the server's certificate is not trusted: it is not signed by a CA in {} or the system roots",
                    path.display()
                ),
                None => "the server's certificate is not trusted by the system roots: if it comes from a private CA, give that CA's PEM file with --ca-file (ca_file= in Python)".to_string(),
            }
        } else {
            "the TLS handshake failed (does the server speak https on this port?)".to_string()
        };
        ClientError::Tls(format!("{}: {hint} ({})", self.base, e.message))
    }

    /// Every resource of a search, following `next` links.
    pub async fn search_all(&self, first: &str) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(path) = next.take() {
            let (status, json, answer) = self.get_json(&path).await?;
            let bundle = match json {
                Some(b) if status.is_success() && b["resourceType"] == "Bundle" => b,
                _ => {
                    return Err(ClientError::Http(format!(
                        "GET {path}: {}",
                        answer.reason()
                    )))
                }
            };
            if let Some(entries) = bundle["entry"].as_array() {
                for entry in entries {
                    if entry["search"]["mode"]
                        .as_str()
                        .is_some_and(|m| m != "match")
                    {
                        continue;
                    }
                    out.push(entry["resource"].clone());
                }
            }
            next = bundle["link"]
                .as_array()
                .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
                .and_then(|l| l["url"].as_str())
                .map(str::to_string);
        }
        Ok(out)
    }

    /// Checks that the base URL is a FHIR server with the dicom-fhir plugin.
    ///
    /// * unreachable: no answer at all;
    /// * 401/403 on `/metadata`;
    /// * not FHIR: `/metadata` is not a JSON CapabilityStatement;
    /// * plugin missing: the server does not hold the plugin's StructureDefinition
    ///   `http://dicomfhir.org/fhir/StructureDefinition/instance-binary`, which the plugin
    ///   publishes at start-up. (An upload answered with a Binary id that is not the SHA-256 of
    ///   the bytes is also reported as a missing plugin.)
    pub async fn preflight(&self) -> Result<(), ClientError> {
        // _summary=true: HAPI's full CapabilityStatement is about 2 MB, read only for fhirVersion
        let (status, json, answer) = self.get_json("metadata?_summary=true").await?;
        match json {
            Some(cs) if status.is_success() && cs["resourceType"] == "CapabilityStatement" => {
                if let Some(v) = cs["fhirVersion"].as_str() {
                    if !v.starts_with("4.0") {
                        return Err(ClientError::NotFhir(format!(
                            "{} speaks FHIR {v}; dicom-fhir needs FHIR R4 (4.0.x)",
                            self.base
                        )));
                    }
                }
            }
            _ => {
                return Err(ClientError::NotFhir(format!(
                    "{}/metadata did not return a CapabilityStatement ({}); is the URL the FHIR base, e.g. http://host:8080/fhir?",
                    self.base,
                    answer.reason()
                )))
            }
        }
        let query = format!(
            "StructureDefinition?url={}&_summary=count",
            enc(INSTANCE_BINARY_EXT)
        );
        let (status, json, answer) = self.get_json(&query).await?;
        let total = json.as_ref().and_then(|b| b["total"].as_u64());
        match (status.is_success(), total) {
            (true, Some(n)) if n > 0 => Ok(()),
            (true, Some(_)) => Err(ClientError::PluginMissing(format!(
                "{} has no StructureDefinition {INSTANCE_BINARY_EXT}, which the plugin publishes at start-up",
                self.base
            ))),
            _ => Err(ClientError::PluginMissing(format!(
                "could not search StructureDefinition on {}: {}",
                self.base,
                answer.reason()
            ))),
        }
    }

    /// Which of these Binary ids exist on the server: `_id` searches of 50 ids (ids only),
    /// four at a time; each retried on a 5xx or lost connection.
    pub async fn existing_binaries(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, ClientError> {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
        let mut searches = tokio::task::JoinSet::new();
        for chunk in ids.chunks(50) {
            let query = format!(
                "Binary?_id={}&_elements=id&_count={}",
                enc(&chunk.join(",")),
                chunk.len() + 1
            );
            let (fhir, limit) = (self.clone(), limit.clone());
            searches.spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                let mut attempt = 0;
                loop {
                    match fhir.search_all(&query).await {
                        Err(ClientError::Unreachable(_)) | Err(ClientError::Http(_))
                            if attempt < 3 =>
                        {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                        }
                        other => return other,
                    }
                }
            });
        }
        let mut found = std::collections::HashSet::new();
        while let Some(done) = searches.join_next().await {
            let resources = done.map_err(|e| ClientError::Http(format!("search task: {e}")))??;
            for r in resources {
                if let Some(id) = r["id"].as_str() {
                    found.insert(id.to_string());
                }
            }
        }
        Ok(found)
    }
}

fn describe(e: reqwest::Error) -> SendError {
    let mut causes = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push_str(": ");
        causes.push_str(&s.to_string());
        source = s.source();
    }
    // rustls' messages ("invalid peer certificate: UnknownIssuer", "received corrupt message of
    // type InvalidContentType", alerts); reqwest has no TLS error kind of its own. Only the
    // causes are looked at: the top message holds the URL.
    let lower = causes.to_ascii_lowercase();
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "alert",
    ]
    .iter()
    .any(|w| lower.contains(w));
    SendError {
        transient: !tls && (e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()),
        tls,
        message: format!("{e}{causes}"),
        fatal: None,
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// True for 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_and_sha_check() {
        assert_eq!(enc("http://x|dicom"), "http%3A%2F%2Fx%7Cdicom");
        assert_eq!(enc("a,b"), "a%2Cb");
        assert!(is_sha256_hex(&"0f".repeat(32)));
        assert!(!is_sha256_hex("123"));
        assert!(!is_sha256_hex(&"0F".repeat(32)));
    }
}
