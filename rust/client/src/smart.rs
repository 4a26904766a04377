//! SMART Backend Services (SMART App Launch 2.x, "backend-services"): an unattended client gets
//! its access token with `grant_type=client_credentials`, authenticating with a JWT it signs
//! with its private key (`private_key_jwt`, RS384 or ES384).
//!
//! One [`TokenProvider`] is shared by every request of a run (the `Fhir` client holds it in an
//! `Arc`): it fetches a token on first use, fetches a new one shortly before `expires_in` runs
//! out, and after a 401 from the FHIR server. Fetches are single-flight: the provider's async
//! lock is held while a token is requested, so concurrent requests wait for that one fetch
//! instead of each asking the token endpoint.
//!
//! Neither the key, the assertion nor the access token is ever put in an error message or
//! a `Debug` output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{header, StatusCode};
use ring::rand::SecureRandom;
use ring::signature::{self, KeyPair};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::client::{enc, ClientError};

/// The scope asked for when none is given: every resource type, all of create, read, update,
/// delete and search, as a system. The token endpoint grants at most what the client is
/// registered for; an upload needs `c` and `s` on Binary, `s` on StructureDefinition.
pub const DEFAULT_SCOPE: &str = "system/*.cruds";
/// How far ahead the assertion's `exp` is: the spec allows at most 5 minutes; 4 leaves a
/// minute for a client clock running ahead of the token endpoint's.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(240);
/// Lifetime assumed when the token response has no `expires_in` (the spec's SHOULD maximum).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// SMART Backend Services credentials (no secret in here: the key stays in its file until
/// [`TokenProvider::new`] reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartConfig {
    /// The client id registered at the authorization server (`iss` and `sub` of the assertion).
    pub client_id: String,
    /// PEM file with the private key: RSA (PKCS#1 or PKCS#8) or EC P-384 (PKCS#8).
    pub key_file: PathBuf,
    /// `RS384`, `ES384`, ...; default from the key: RSA → RS384, P-384 → ES384.
    pub alg: Option<String>,
    /// `kid` of the JWS header; default the RFC 7638 thumbprint of the public key.
    pub kid: Option<String>,
    /// Space-separated scopes; default [`DEFAULT_SCOPE`].
    pub scope: Option<String>,
    /// Token endpoint; default `token_endpoint` of `<FHIR base>/.well-known/smart-configuration`.
    pub token_url: Option<String>,
}

impl SmartConfig {
    pub fn new(client_id: impl Into<String>, key_file: impl Into<PathBuf>) -> SmartConfig {
        SmartConfig {
            client_id: client_id.into(),
            key_file: key_file.into(),
            alg: None,
            kid: None,
            scope: None,
            token_url: None,
        }
    }
}

/// The private key, its algorithm and `kid`.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    /// The public key as a JWK (`kty`, `n`/`e` or `crv`/`x`/`y`, `alg`, `kid`, `use`).
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, kid {:?})", self.alg, self.kid)
    }
}

enum Family {
    Rsa,
    P384,
    P256,
}

impl SigningKey {
    /// Reads a PEM private key. `alg` must fit the key; `kid` defaults to the RFC 7638
    /// thumbprint (SHA-256) of the public key.
    pub fn from_pem_file(
        path: &Path,
        alg: Option<&str>,
        kid: Option<&str>,
    ) -> Result<SigningKey, ClientError> {
        let text = std::fs::read(path).map_err(|e| {
            ClientError::Config(format!("SMART key {}: cannot read: {e}", path.display()))
        })?;
        SigningKey::from_pem(&text, alg, kid)
            .map_err(|m| ClientError::Config(format!("SMART key {}: {m}", path.display())))
    }

    fn from_pem(text: &[u8], alg: Option<&str>, kid: Option<&str>) -> Result<SigningKey, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not a PEM file ({e})"))?;
        let block = blocks
            .iter()
            .find(|b| b.tag().ends_with("PRIVATE KEY"))
            .ok_or("no PRIVATE KEY block in it (a PEM private key is needed, not a certificate or a public key)")?;
        let der = block.contents();
        let rng = ring::rand::SystemRandom::new();
        let (family, jwk) = match block.tag() {
            "ENCRYPTED PRIVATE KEY" => {
                return Err("the key is encrypted: give an unencrypted key (openssl pkcs8 -in KEY -out PLAIN.pem), readable by this user only".into())
            }
            "EC PRIVATE KEY" => {
                return Err("a SEC1 EC key (BEGIN EC PRIVATE KEY): convert it to PKCS#8 with openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8.pem".into())
            }
            "RSA PRIVATE KEY" => {
                let pair = signature::RsaKeyPair::from_der(der)
                    .map_err(|e| format!("not a usable RSA key ({e})"))?;
                (Family::Rsa, rsa_jwk(&pair))
            }
            "PRIVATE KEY" => {
                if let Ok(pair) = signature::RsaKeyPair::from_pkcs8(der) {
                    (Family::Rsa, rsa_jwk(&pair))
                } else if let Ok(pair) = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    der,
                    &rng,
                ) {
                    (Family::P384, ec_jwk("P-384", pair.public_key().as_ref()))
                } else if let Ok(pair) = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                ) {
                    (Family::P256, ec_jwk("P-256", pair.public_key().as_ref()))
                } else {
                    return Err("not an RSA, EC P-384 or EC P-256 private key".into());
                }
            }
            other => return Err(format!("unsupported PEM block {other:?}")),
        };
        let alg = match (alg.map(str::to_ascii_uppercase).as_deref(), &family) {
            (None, Family::Rsa) => Algorithm::RS384,
            (None, Family::P384) => Algorithm::ES384,
            (None, Family::P256) => Algorithm::ES256,
            (Some("RS256"), Family::Rsa) => Algorithm::RS256,
            (Some("RS384"), Family::Rsa) => Algorithm::RS384,
            (Some("RS512"), Family::Rsa) => Algorithm::RS512,
            (Some("PS256"), Family::Rsa) => Algorithm::PS256,
            (Some("PS384"), Family::Rsa) => Algorithm::PS384,
            (Some("PS512"), Family::Rsa) => Algorithm::PS512,
            (Some("ES384"), Family::P384) => Algorithm::ES384,
            (Some("ES256"), Family::P256) => Algorithm::ES256,
            (Some(a), f) => {
                let fits = match f {
                    Family::Rsa => "RS384 (SMART's), RS256, RS512, PS256, PS384 or PS512",
                    Family::P384 => "ES384",
                    Family::P256 => "ES256",
                };
                return Err(format!("algorithm {a} does not fit this key: use {fits}"));
            }
        };
        // jsonwebtoken (on ring) takes RSA keys as PKCS#1 DER, EC keys as PKCS#8 DER
        let key = match (family, block.tag()) {
            (Family::Rsa, "PRIVATE KEY") => EncodingKey::from_rsa_der(
                pkcs8_inner(der).ok_or("cannot read the PKCS#8 structure of the RSA key")?,
            ),
            (Family::Rsa, _) => EncodingKey::from_rsa_der(der),
            (Family::P384 | Family::P256, _) => EncodingKey::from_ec_der(der),
        };
        let kid = match kid.filter(|k| !k.is_empty()) {
            Some(k) => k.to_string(),
            None => thumbprint(&jwk),
        };
        let mut jwk = jwk;
        jwk["alg"] = Value::String(format!("{alg:?}"));
        jwk["kid"] = Value::String(kid.clone());
        jwk["use"] = Value::String("sig".into());
        Ok(SigningKey { alg, kid, key, jwk })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The public key as a JWK, to register the client (`{"keys": [jwk]}` is its JWK Set).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// A client assertion for `token_url`: `iss` = `sub` = client id, `aud` = the token
    /// endpoint, `exp` 4 minutes ahead, a random `jti`.
    pub fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, ClientError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
            jti: String,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut random = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ClientError::Config("no random numbers for the assertion jti".into()))?;
        let claims = Claims {
            iss: client_id,
            sub: client_id,
            aud: token_url,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
            jti: random.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let mut head = Header::new(self.alg);
        head.typ = Some("JWT".into());
        head.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&head, &claims, &self.key)
            .map_err(|e| ClientError::Config(format!("cannot sign the SMART assertion: {e}")))
    }
}

/// One DER element: (tag, contents, the rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo (RFC 5208): for RSA, the PKCS#1
/// RSAPrivateKey.
fn pkcs8_inner(der: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der_element(der)? else {
        return None;
    };
    let (0x02, _version, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = der_element(rest)? else {
        return None;
    };
    match der_element(rest)? {
        (0x04, key, _) => Some(key),
        _ => None,
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(pair: &signature::RsaKeyPair) -> Value {
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
    serde_json::json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
}

/// `point` is the uncompressed SEC1 point: 0x04, x, y.
fn ec_jwk(crv: &str, point: &[u8]) -> Value {
    let half = (point.len() - 1) / 2;
    serde_json::json!({
        "kty": "EC", "crv": crv,
        "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..]),
    })
}

/// RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
fn thumbprint(jwk: &Value) -> String {
    let s = |k: &str| jwk[k].as_str().unwrap_or_default();
    let canonical = if s("kty") == "RSA" {
        format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n"))
    } else {
        format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        )
    };
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// Monotonic time, replaceable in tests so expiry can be tested without waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> std::time::Instant;
}

struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

struct Token {
    value: String,
    /// When to fetch the next one: shortly before it expires.
    renew_at: std::time::Instant,
}

#[derive(Default)]
struct State {
    token_url: Option<String>,
    token: Option<Token>,
}

/// Fetches and renews the access token of a SMART Backend Services client; shared by all
/// requests of a run.
pub struct TokenProvider {
    http: reqwest::Client,
    fhir_base: String,
    client_id: String,
    scope: String,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenProvider(client {:?}, scope {:?}, {:?})",
            self.client_id, self.scope, self.key
        )
    }
}

impl TokenProvider {
    /// Reads the key (so a wrong path or key fails before anything is sent); the token endpoint
    /// is discovered at the first token request.
    pub fn new(
        config: &SmartConfig,
        http: reqwest::Client,
        fhir_base: &str,
    ) -> Result<TokenProvider, ClientError> {
        if config.client_id.trim().is_empty() {
            return Err(ClientError::Config("SMART client id is empty".into()));
        }
        let key = SigningKey::from_pem_file(
            &config.key_file,
            config.alg.as_deref(),
            config.kid.as_deref(),
        )?;
        let token_url = match config.token_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(u) => Some(check_url(u, "SMART token URL")?),
            None => None,
        };
        Ok(TokenProvider {
            http,
            fhir_base: fhir_base.trim_end_matches('/').to_string(),
            client_id: config.client_id.trim().to_string(),
            scope: config
                .scope
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_SCOPE.to_string()),
            key,
            clock: Arc::new(SystemClock),
            state: Mutex::new(State {
                token_url,
                token: None,
            }),
        })
    }

    /// Tests: a clock they move forward.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> TokenProvider {
        self.clock = clock;
        self
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The current token, fetching one when there is none or it is about to expire.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut state = self.state.lock().await;
        if let Some(t) = &state.token {
            if self.clock.now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        self.fetch(&mut state).await
    }

    /// After a 401 to a request sent with `rejected`: a new token, unless another request
    /// already replaced it (then that one), so a burst of 401s costs one token request.
    pub async fn renew(&self, rejected: &str) -> Result<String, TokenError> {
        let mut state = self.state.lock().await;
        if let Some(t) = &state.token {
            if t.value != rejected && self.clock.now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        self.fetch(&mut state).await
    }

    async fn fetch(&self, state: &mut State) -> Result<String, TokenError> {
        state.token = None;
        let url = match &state.token_url {
            Some(u) => u.clone(),
            None => {
                let u = self.discover().await?;
                state.token_url = Some(u.clone());
                u
            }
        };
        let assertion = self
            .key
            .assertion(&self.client_id, &url)
            .map_err(TokenError::fatal)?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", self.scope.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
        let started = self.clock.now();
        let response = self
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| {
                TokenError::network(format!("SMART token endpoint {url}: {}", chain(&e)))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            TokenError::network(format!("SMART token endpoint {url}: {}", chain(&e)))
        })?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let detail = match json.as_ref().and_then(|j| j["error"].as_str()) {
                Some(error) => {
                    let description = json.as_ref().and_then(|j| j["error_description"].as_str());
                    let mut d = match description {
                        Some(text) => format!("{error}: {text}"),
                        None => error.to_string(),
                    };
                    if error == "invalid_scope" {
                        d.push_str(&format!(
                            " (asked for scope {:?}: give the scopes the client is registered for with --smart-scope, smart_scope= in Python)",
                            self.scope
                        ));
                    }
                    d
                }
                // never the body itself: a careless endpoint may echo the request
                None => "no OAuth error in the answer".to_string(),
            };
            let message = format!(
                "SMART token endpoint {url} refused client {:?}: HTTP {} {}",
                self.client_id,
                status.as_u16(),
                detail
            );
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    TokenError {
                        error: ClientError::Unauthorized(message),
                        transient: true,
                    }
                } else {
                    TokenError::fatal(ClientError::Unauthorized(message))
                },
            );
        }
        let json = json.ok_or_else(|| {
            TokenError::fatal(ClientError::Unauthorized(format!(
                "SMART token endpoint {url} answered HTTP {} without a JSON body",
                status.as_u16()
            )))
        })?;
        let value = json["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                TokenError::fatal(ClientError::Unauthorized(format!(
                    "SMART token endpoint {url}: no access_token in the answer"
                )))
            })?;
        let token_type = json["token_type"].as_str().unwrap_or("bearer");
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::fatal(ClientError::Unauthorized(format!(
                "SMART token endpoint {url} issued a {token_type:?} token; only bearer tokens are supported"
            ))));
        }
        let lifetime = json["expires_in"]
            .as_f64()
            .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .filter(|s| *s >= 0.0 && s.is_finite())
            // a careless endpoint's 0 or 10^20: at least 10 s (a 401 renews it anyway), at most a day
            .map(|s| Duration::from_secs_f64(s.clamp(10.0, 86_400.0)))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Renew a quarter of the lifetime before it ends, at most a minute: a request started
        // just before then still reaches the server with a valid token.
        let margin = (lifetime / 4).min(Duration::from_secs(60));
        state.token = Some(Token {
            value: value.to_string(),
            renew_at: started + lifetime - margin,
        });
        Ok(value.to_string())
    }

    /// `token_endpoint` of `<FHIR base>/.well-known/smart-configuration`.
    async fn discover(&self) -> Result<String, TokenError> {
        let url = format!("{}/.well-known/smart-configuration", self.fhir_base);
        let hint = "give the token endpoint with --smart-token-url (smart_token_url= in Python)";
        let response = self
            .http
            .get(&url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| TokenError::network(format!("SMART discovery {url}: {}", chain(&e))))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::network(format!("SMART discovery {url}: {}", chain(&e))))?;
        if !status.is_success() {
            return Err(TokenError::fatal(ClientError::Config(format!(
                "SMART discovery: {url} answered HTTP {} (the server publishes no SMART configuration): {hint}",
                status.as_u16()
            ))));
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            TokenError::fatal(ClientError::Config(format!(
                "SMART discovery: {url} is not JSON: {hint}"
            )))
        })?;
        let endpoint = json["token_endpoint"].as_str().ok_or_else(|| {
            TokenError::fatal(ClientError::Config(format!(
                "SMART discovery: {url} has no token_endpoint: {hint}"
            )))
        })?;
        check_url(endpoint, &format!("token_endpoint of {url}")).map_err(TokenError::fatal)
    }
}

fn check_url(url: &str, what: &str) -> Result<String, ClientError> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(url.to_string()),
        _ => Err(ClientError::Config(format!(
            "{what} {url:?} is not an http(s) URL"
        ))),
    }
}

fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A token could not be had. `transient`: the token endpoint was unreachable or answered 5xx
/// or 429 (worth the caller's retry with backoff); otherwise the run stops with `error`.
#[derive(Debug, Clone)]
pub struct TokenError {
    pub error: ClientError,
    pub transient: bool,
}

impl TokenError {
    fn fatal(error: ClientError) -> TokenError {
        TokenError {
            error,
            transient: false,
        }
    }
    fn network(message: String) -> TokenError {
        TokenError {
            error: ClientError::Unreachable(message),
            transient: true,
        }
    }
}
