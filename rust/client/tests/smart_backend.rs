//! SMART Backend Services in `dicom_fhir_client` (what `dicom-fhir --smart-*` and the Python
//! module's `smart_*=` use): the client assertion (claims, header, signature checked with the
//! public key made by `openssl`), what careless key files give, and the token provider against
//! a loopback stand-in for both the token endpoint and a FHIR server that checks the bearer
//! token: one token for concurrent requests, renewal before expiry, one renewal and one retry
//! after 401s, clear errors when the token endpoint refuses or discovery finds nothing.
//! (The end-to-end test against a real Keycloak belongs with scripts/idp.sh.)

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dicom_fhir_client::smart::{Clock, SigningKey, TokenProvider};
use dicom_fhir_client::upload::Silent;
use dicom_fhir_client::{ClientConfig, ClientError, Fhir, SmartConfig, UploadOptions};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::Value;

const CLIENT: &str = "dicom-backend";

mod support;

fn temp_dir(name: &str) -> PathBuf {
    support::temp_dir(&format!("smart-{name}"))
}

/// Runs openssl in `dir` (the current folder when None) and returns what it wrote on stdout.
fn openssl_in(dir: Option<&Path>, args: &[&str]) -> Vec<u8> {
    let mut command = Command::new("openssl");
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn openssl(dir: &Path, args: &[&str]) {
    openssl_in(Some(dir), args);
}

/// (private key PEM, public key PEM) made by openssl.
fn keypair(dir: &Path, name: &str, genpkey: &[&str]) -> (PathBuf, PathBuf) {
    let key = format!("{name}.pem");
    let public = format!("{name}.pub.pem");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend_from_slice(&["-out", &key]);
    openssl(dir, &args);
    openssl(dir, &["pkey", "-in", &key, "-pubout", "-out", &public]);
    (dir.join(key), dir.join(public))
}

fn rsa(dir: &Path) -> (PathBuf, PathBuf) {
    keypair(
        dir,
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    )
}

fn openssl_stdout(args: &[&str]) -> Vec<u8> {
    openssl_in(None, args)
}

/// The public key as openssl writes it (PKCS#1 RSAPublicKey DER), independent of the client's
/// own key reading.
fn rsa_public(public: &Path) -> DecodingKey {
    let der = openssl_stdout(&[
        "rsa",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-RSAPublicKey_out",
        "-outform",
        "DER",
    ]);
    DecodingKey::from_rsa_der(&der)
}

/// The P-384 point of the SubjectPublicKeyInfo openssl writes (its last 97 bytes: 04, x, y).
fn ec_public(public: &Path) -> DecodingKey {
    let der = openssl_stdout(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-outform",
        "DER",
    ]);
    let point = &der[der.len() - 97..];
    assert_eq!(point[0], 4, "uncompressed point");
    DecodingKey::from_ec_der(point)
}

fn claims_of(token: &str, public: &DecodingKey, alg: Algorithm, aud: &str) -> Value {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[CLIENT]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, public, &validation)
        .expect("the signature verifies with the public key")
        .claims
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn rsa_assertion_claims_header_and_signature() {
    let dir = temp_dir("rsa");
    let (key, public) = rsa(&dir);
    let signing = SigningKey::from_pem_file(&key, None, None).unwrap();
    let aud = "https://idp.example/realms/dicom/protocol/openid-connect/token";
    let a = signing.assertion(CLIENT, aud).unwrap();
    let b = signing.assertion(CLIENT, aud).unwrap();

    let header = jsonwebtoken::decode_header(&a).unwrap();
    assert_eq!(header.alg, Algorithm::RS384, "RSA keys sign RS384 (SMART)");
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let kid = header.kid.expect("a kid");
    assert_eq!(kid, signing.kid());
    assert_eq!(kid.len(), 43, "RFC 7638 thumbprint: base64url SHA-256");

    let claims = claims_of(&a, &rsa_public(&public), Algorithm::RS384, aud);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["aud"], aud);
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        exp > now() && exp <= now() + 300,
        "exp at most 5 minutes ahead: {exp}"
    );
    let other = claims_of(&b, &rsa_public(&public), Algorithm::RS384, aud);
    assert_ne!(claims["jti"], other["jti"], "a new jti every time");
    assert!(claims["jti"].as_str().unwrap().len() >= 32);

    // the public JWK (to register the client) is the same key
    let jwk = signing.public_jwk();
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str()),
        (Some("RSA"), Some("RS384"))
    );
    let from_jwk =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    claims_of(&a, &from_jwk, Algorithm::RS384, aud);

    // a PKCS#1 file ("BEGIN RSA PRIVATE KEY") of the same key: same kid
    openssl(
        &dir,
        &["pkey", "-in", "rsa.pem", "-traditional", "-out", "rsa1.pem"],
    );
    assert!(std::fs::read_to_string(dir.join("rsa1.pem"))
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    let pkcs1 = SigningKey::from_pem_file(&dir.join("rsa1.pem"), Some("rs384"), None).unwrap();
    assert_eq!(pkcs1.kid(), kid);
    // an explicit kid wins
    let named = SigningKey::from_pem_file(&key, None, Some("key-2026")).unwrap();
    let header = jsonwebtoken::decode_header(&named.assertion(CLIENT, aud).unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("key-2026"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ec_p384_assertion_is_es384() {
    let dir = temp_dir("ec");
    let (key, public) = keypair(
        &dir,
        "ec",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let signing = SigningKey::from_pem_file(&key, None, None).unwrap();
    let aud = "http://127.0.0.1:1/token";
    let a = signing.assertion(CLIENT, aud).unwrap();
    let header = jsonwebtoken::decode_header(&a).unwrap();
    assert_eq!(header.alg, Algorithm::ES384);
    assert_eq!(header.kid.as_deref(), Some(signing.kid()));
    let claims = claims_of(&a, &ec_public(&public), Algorithm::ES384, aud);
    assert_eq!(
        (claims["iss"].as_str(), claims["sub"].as_str()),
        (Some(CLIENT), Some(CLIENT))
    );
    let jwk = signing.public_jwk();
    assert_eq!(jwk["crv"], "P-384");
    let from_jwk =
        DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
            .unwrap();
    claims_of(&a, &from_jwk, Algorithm::ES384, aud);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn key_error(path: &Path, alg: Option<&str>) -> String {
    match SigningKey::from_pem_file(path, alg, None) {
        Err(ClientError::Config(m)) => m,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn careless_key_files_give_clear_errors() {
    let dir = temp_dir("careless");
    let (key, public) = rsa(&dir);
    let missing = dir.join("nope.pem");
    let m = key_error(&missing, None);
    assert!(m.contains("nope.pem") && m.contains("cannot read"), "{m}");
    let m = key_error(&public, None);
    assert!(
        m.contains("no PRIVATE KEY"),
        "a public key instead of the private one: {m}"
    );
    std::fs::write(dir.join("junk.pem"), "hello\n").unwrap();
    let m = key_error(&dir.join("junk.pem"), None);
    assert!(m.contains("junk.pem") && m.contains("PRIVATE KEY"), "{m}");
    let m = key_error(&key, Some("ES384"));
    assert!(
        m.contains("ES384 does not fit") && m.contains("RS384"),
        "{m}"
    );
    let m = key_error(&key, Some("HS256"));
    assert!(
        m.contains("does not fit"),
        "no shared-secret algorithms: {m}"
    );
    openssl(
        &dir,
        &[
            "pkey", "-in", "rsa.pem", "-aes256", "-passout", "pass:pw", "-out", "enc.pem",
        ],
    );
    let m = key_error(&dir.join("enc.pem"), None);
    assert!(m.contains("encrypted"), "{m}");
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.pem",
        ],
    );
    let m = key_error(&dir.join("sec1.pem"), None);
    assert!(
        m.contains("openssl pkcs8 -topk8"),
        "SEC1 EC key: says how to convert: {m}"
    );
    // a certificate and its key in one file: the key is found
    openssl(
        &dir,
        &[
            "req", "-x509", "-key", "rsa.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=x",
        ],
    );
    let both = [
        std::fs::read(dir.join("cert.pem")).unwrap(),
        std::fs::read(&key).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("both.pem"), both).unwrap();
    assert!(SigningKey::from_pem_file(&dir.join("both.pem"), None, None).is_ok());
    // nothing secret in the errors or Debug output
    let key_text = std::fs::read_to_string(&key).unwrap();
    let body_line = key_text.lines().nth(1).unwrap();
    let signing = SigningKey::from_pem_file(&key, None, None).unwrap();
    assert!(!format!("{signing:?}").contains(body_line));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn token_and_smart_together_is_a_configuration_error() {
    let dir = temp_dir("both");
    let (key, _) = rsa(&dir);
    let mut config = ClientConfig::new("http://127.0.0.1:9/fhir");
    config.token = Some("abc".into());
    config.smart = Some(SmartConfig::new(CLIENT, &key));
    match Fhir::new(&config) {
        Err(ClientError::Config(m)) => assert!(m.contains("not both"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted a token and SMART credentials"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the loopback IdP + FHIR server does and saw.
#[derive(Default)]
struct World {
    /// `expires_in` of issued tokens, as JSON.
    expires_in: String,
    /// Token endpoint answers this (status, body) instead of issuing.
    refuse: Option<(u16, String)>,
    /// No `.well-known/smart-configuration`.
    no_discovery: bool,
    /// Every token endpoint request: the form fields.
    token_requests: Vec<Vec<(String, String)>>,
    issued: u64,
    valid: HashSet<String>,
    /// FHIR requests: (method, path, bearer token).
    fhir: Vec<(String, String, Option<String>)>,
    /// After this many accepted FHIR requests, every token issued so far is revoked.
    revoke_after: Option<usize>,
    accepted: usize,
    /// Answer 401 to every FHIR request.
    always_401: bool,
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn serve(world: Arc<Mutex<World>>) -> String {
    let port = support::serve("application/json", move |request, port| {
        answer(&world, port, request)
    });
    format!("http://127.0.0.1:{port}/fhir")
}

/// The token endpoint, discovery, and a FHIR server with the plugin that checks the bearer token.
fn answer(world: &Mutex<World>, port: u16, request: support::Request) -> support::Answer {
    let (method, path, bearer) = (
        request.method.as_str(),
        request.path.as_str(),
        &request.bearer,
    );
    let mut w = world.lock().unwrap();
    let ok = |json: String| ("200 OK".to_string(), String::new(), json);
    if path == "/fhir/.well-known/smart-configuration" {
        if w.no_discovery {
            return ("404 Not Found".into(), String::new(), "{}".into());
        }
        return ok(format!(
            r#"{{"token_endpoint":"http://127.0.0.1:{port}/token","grant_types_supported":["client_credentials"],"token_endpoint_auth_methods_supported":["private_key_jwt"]}}"#
        ));
    }
    if path == "/token" {
        w.token_requests.push(form(&request.body));
        if let Some((status, json)) = w.refuse.clone() {
            return (format!("{status} Refused"), String::new(), json);
        }
        w.issued += 1;
        let token = format!("token-{}", w.issued);
        w.valid.insert(token.clone());
        return ok(format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{},"scope":"system/*.cruds"}}"#,
            w.expires_in
        ));
    }
    w.fhir.push((method.into(), path.into(), bearer.clone()));
    if w.always_401 || !bearer.as_ref().is_some_and(|b| w.valid.contains(b)) {
        return (
            "401 Unauthorized".into(),
            String::new(),
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","diagnostics":"token not active"}]}"#.into(),
        );
    }
    w.accepted += 1;
    if w.revoke_after == Some(w.accepted) {
        w.valid.clear();
    }
    drop(w);
    support::plugin_answer(&request, port)
}

struct TestClock {
    start: Instant,
    offset_ms: AtomicU64,
}
impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

fn smart_client(base: &str, key: &Path, token_url: Option<String>) -> Fhir {
    let mut config = ClientConfig::new(base);
    let mut smart = SmartConfig::new(CLIENT, key);
    smart.token_url = token_url;
    smart.scope = Some("system/Binary.cs system/StructureDefinition.s".into());
    config.smart = Some(smart);
    config.timeout = Duration::from_secs(30);
    Fhir::new(&config).unwrap()
}

fn world(expires_in: &str) -> Arc<Mutex<World>> {
    Arc::new(Mutex::new(World {
        expires_in: expires_in.to_string(),
        ..Default::default()
    }))
}

/// One test against the loopback IdP + FHIR server: its folder (removed at the end), an RSA
/// key pair made there, the world (tokens valid 300 s) and the server's FHIR base.
struct Loopback {
    dir: PathBuf,
    key: PathBuf,
    public: PathBuf,
    world: Arc<Mutex<World>>,
    base: String,
}

fn loopback(name: &str) -> Loopback {
    let dir = temp_dir(name);
    let (key, public) = rsa(&dir);
    let world = world("300");
    let base = serve(world.clone());
    Loopback {
        dir,
        key,
        public,
        world,
        base,
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_token_request() {
    let t = loopback("shared");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    let fhir = smart_client(&base, &key, None);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let fhir = fhir.clone();
        tasks.spawn(async move {
            fhir.send(Method::GET, &format!("Binary?_id={i}"), &[], None)
                .await
                .map(|a| a.status.as_u16())
                .map_err(|e| e.message)
        });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap(), Ok(200));
    }
    let w = w.lock().unwrap();
    assert_eq!(
        w.token_requests.len(),
        1,
        "one token request for 16 concurrent requests"
    );
    assert!(w
        .fhir
        .iter()
        .all(|(_, _, t)| t.as_deref() == Some("token-1")));
    // the token request: client_credentials, the scope, a jwt-bearer assertion for this endpoint
    let field = |k: &str| {
        w.token_requests[0]
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("grant_type"), "client_credentials");
    assert_eq!(
        field("scope"),
        "system/Binary.cs system/StructureDefinition.s"
    );
    assert_eq!(
        field("client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let token_url = base.replace("/fhir", "/token");
    let claims = claims_of(
        &field("client_assertion"),
        &rsa_public(&t.public),
        Algorithm::RS384,
        &token_url,
    );
    assert_eq!(
        claims["aud"],
        token_url.as_str(),
        "aud = the discovered token endpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_renewed_shortly_before_it_expires() {
    let t = loopback("expiry");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    let clock = Arc::new(TestClock {
        start: Instant::now(),
        offset_ms: AtomicU64::new(0),
    });
    let http = reqwest::Client::new();
    let mut smart = SmartConfig::new(CLIENT, &key);
    smart.token_url = Some(base.replace("/fhir", "/token"));
    let provider = TokenProvider::new(&smart, http, &base)
        .unwrap()
        .with_clock(clock.clone());
    assert_eq!(provider.token().await.unwrap(), "token-1");
    clock.offset_ms.store(200_000, Ordering::SeqCst); // 200 s of 300: still good
    assert_eq!(provider.token().await.unwrap(), "token-1");
    clock.offset_ms.store(241_000, Ordering::SeqCst); // within the last minute: renewed
    assert_eq!(provider.token().await.unwrap(), "token-2");
    assert_eq!(provider.token().await.unwrap(), "token-2");
    assert_eq!(w.lock().unwrap().token_requests.len(), 2);
    // renew() after a 401 to an old token: the current one, no new request
    assert_eq!(provider.renew("token-1").await.unwrap(), "token-2");
    assert_eq!(w.lock().unwrap().token_requests.len(), 2);
    assert_eq!(provider.renew("token-2").await.unwrap(), "token-3");
}

fn copies(dir: &Path, n: usize) -> PathBuf {
    let ct = support::ct_small();
    let folder = dir.join("files");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        // other bytes in the last pixel: another Binary (same UIDs, so sent one after another)
        let mut bytes = ct.clone();
        let last = bytes.len() - 1;
        bytes[last] = i as u8;
        std::fs::write(folder.join(format!("{i}.dcm")), bytes).unwrap();
    }
    folder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_revoked_mid_upload_is_renewed_once_and_the_request_retried() {
    let t = loopback("revoked");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    // preflight (2) + resume check (1) + 2 uploads accepted, then the token stops working
    w.lock().unwrap().revoke_after = Some(5);
    let folder = copies(&t.dir, 6);
    let fhir = smart_client(&base, &key, Some(base.replace("/fhir", "/token")));
    let report = dicom_fhir_client::upload(
        &fhir,
        &[folder],
        &UploadOptions::default(),
        Arc::new(Silent),
    )
    .await
    .expect("the upload goes on with a new token");
    assert_eq!(report.stored, 6, "{report:#?}");
    assert!(report.ok());
    let w = w.lock().unwrap();
    assert_eq!(w.token_requests.len(), 2, "one renewal after the 401");
    let rejected: Vec<_> = w
        .fhir
        .iter()
        .filter(|(_, _, t)| t.as_deref() == Some("token-1"))
        .skip(5)
        .collect();
    assert_eq!(rejected.len(), 1, "one request got the 401: {rejected:?}");
    let posts = w.fhir.iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts, 7, "six files, one of them sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_every_token_stops_after_one_retry() {
    let t = loopback("always401");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    w.lock().unwrap().always_401 = true;
    let fhir = smart_client(&base, &key, None);
    let e = fhir.preflight().await.unwrap_err();
    assert_eq!(e.kind(), "unauthorized");
    assert!(
        e.to_string().contains("401") && e.to_string().contains("freshly fetched"),
        "{e}"
    );
    let w = w.lock().unwrap();
    assert_eq!(w.fhir.len(), 2, "the request and one retry");
    assert_eq!(w.token_requests.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_refusal_shows_the_oauth_error_not_the_assertion() {
    let t = loopback("refused");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    w.lock().unwrap().refuse = Some((
        401,
        r#"{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}"#.into(),
    ));
    let fhir = smart_client(&base, &key, None);
    let e = fhir.preflight().await.unwrap_err();
    let m = e.to_string();
    assert_eq!(e.kind(), "unauthorized", "{m}");
    assert!(
        m.contains("invalid_client: Invalid client or Invalid client credentials"),
        "{m}"
    );
    assert!(m.contains(CLIENT) && m.contains("/token"), "{m}");
    let (assertion, fhir_requests) = {
        let w = w.lock().unwrap();
        let assertion = w.token_requests[0]
            .iter()
            .find(|(k, _)| k == "client_assertion")
            .unwrap()
            .1
            .clone();
        (assertion, w.fhir.len())
    };
    let signature = assertion.rsplit('.').next().unwrap();
    assert!(
        !m.contains(signature) && !m.contains(&assertion[..40]),
        "{m}"
    );
    assert_eq!(
        fhir_requests, 0,
        "nothing sent to the FHIR server without a token"
    );

    // a non-OAuth error page (which may echo the request) is not shown
    refused_with(
        &key,
        (
            400,
            "<html>bad request: client_assertion=eyJ...</html>".into(),
        ),
        "no OAuth error",
    )
    .await;
    // invalid_scope names the scope asked for and how to change it
    refused_with(
        &key,
        (
            400,
            r#"{"error":"invalid_scope","error_description":"Invalid scopes: system/Binary.cs"}"#
                .into(),
        ),
        "--smart-scope",
    )
    .await;
}

async fn refused_with(key: &Path, refuse: (u16, String), expect: &str) {
    let w = world("300");
    w.lock().unwrap().refuse = Some(refuse);
    let base = serve(w);
    let m = smart_client(&base, key, None)
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(m.contains(expect), "{m}");
    assert!(!m.contains("eyJ"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_discovery_says_to_give_the_token_url() {
    let t = loopback("nodiscovery");
    let (key, w, base) = (&t.key, &t.world, &t.base);
    w.lock().unwrap().no_discovery = true;
    let e = smart_client(&base, &key, None)
        .preflight()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "config");
    let m = e.to_string();
    assert!(
        m.contains(".well-known/smart-configuration")
            && m.contains("404")
            && m.contains("--smart-token-url"),
        "{m}"
    );
    // an unreachable token endpoint is said to be one
    let e = smart_client(&base, &key, Some("http://127.0.0.1:9/token".into()))
        .preflight()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "unreachable");
    assert!(
        e.to_string()
            .contains("SMART token endpoint http://127.0.0.1:9/token"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn careless_expires_in_neither_panics_nor_floods_the_token_endpoint() {
    let dir = temp_dir("expires");
    let (key, _) = rsa(&dir);
    for careless in ["0", "1e20", "-5", "\"soon\""] {
        let w = world(careless);
        let base = serve(w.clone());
        let fhir = smart_client(&base, &key, None);
        for _ in 0..5 {
            let answer = fhir.send(Method::GET, "metadata", &[], None).await.unwrap();
            assert_eq!(answer.status.as_u16(), 200, "expires_in {careless}");
        }
        assert_eq!(
            w.lock().unwrap().token_requests.len(),
            1,
            "expires_in {careless}: one token for 5 requests"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
