#!/usr/bin/env bash
# Local OpenID provider for SMART on FHIR tests and demos: Keycloak 26.7.3 on loopback.
#
#   scripts/idp.sh start   download and build Keycloak once, start it on 127.0.0.1:${IDP_PORT:-18180}
#                          with a fresh realm "dicom", wait until the realm answers, and print as the
#                          LAST line of stdout one JSON object (progress goes to stderr):
#     issuer, audience ("dicom-fhir"), token_endpoint, authorization_endpoint, jwks_uri,
#     introspection {endpoint, client_id, client_secret}  the FHIR server's own credentials
#     system      {client_id, client_secret}   client_credentials, scope system/*.cruds
#     system_read {client_id, client_secret}   client_credentials, scope system/*.rs
#     system_r    {client_id, client_secret}   client_credentials, scope system/*.r (read by id, no search)
#     system_s    {client_id, client_secret}   client_credentials, scope system/*.s (search, no read by id)
#     backend     {client_id, private_key_pem (absolute path), alg "RS384", kid}   SMART Backend
#                 Services: client_credentials + private_key_jwt, scope system/*.cruds; the public
#                 key is registered as a JWKS under kid = its RFC 7638 thumbprint, so
#                 `dicom-fhir --smart-client-id dicom-backend --smart-key <pem>` needs nothing else
#     viewer      {client_id "dicom-viewer"}    public, code + PKCE S256, loopback redirect URIs
#     patients    {A|B: {client_id, client_secret, username, password, patient_identifier}}
#                 password grant (tests only) and viewer login; scope launch/patient patient/*.rs,
#                 claim patient_identifier = "urn:dicom:patient-id|SMART-PATIENT-A" (resp. -B)
#   Every access token: iss = issuer, aud contains dicom-fhir, scope = the SMART scopes granted.
#   scripts/idp.sh stop    SIGTERM the JVM and wait until it and kc.sh have exited and the port is closed.
#
# `start` while one is running REFUSES (exit 2) rather than stopping it: .data/ is shared by the
# worktrees of this machine, so the running one may belong to somebody else's test run.
# Run `scripts/idp.sh stop` first. A stale pid file (process gone) is ignored.
#
# Fresh state per start: each start runs on its own copy (run dir) of a database template that holds
# only Keycloak's schema and master realm; the realm dicom is created anew each time.
# Secrets: client secrets, user passwords, the Keycloak admin password and the backend RSA key are
# generated per start into the run dir (mode 700), never committed; stdout carries only what the
# contract needs (the admin password is only in the run dir, file admin-password).
#
# Setup: Keycloak is built once (`kc.sh build`, production mode, H2 file DB) and then started with
# --optimized; the realm is created through the admin REST API from the committed template
# scripts/idp/dicom-realm.json (placeholders filled here). The reference notes measured
# --import-realm at about twice the time of a fresh start, and start-dev re-checks the build each time.
#
# Environment: IDP_PORT (18180), IDP_TOKEN_LIFESPAN (access token seconds, 300),
# IDP_START_TIMEOUT (seconds, 240), IDP_RUN_DIR (.data/idp), IDP_VIEWER_ORIGINS (space-separated
# CORS origins of the viewer, "*"), JAVA_HOME (default java: 17 works).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kc_version=26.7.3
kc_parent="$root/.data/keycloak"
kc_home="$kc_parent/keycloak-$kc_version"
# Options baked in by `kc.sh build`; the marker records them so a changed list triggers a rebuild.
kc_build_opts=(--db=dev-file)
kc_build_marker="$kc_home/.idp-build"
# A database in which Keycloak has already created its schema and master realm (the bulk of a
# first start); each start runs on a copy of it.
db_template="$kc_parent/db-template"
port=${IDP_PORT:-18180}
host=127.0.0.1
base="http://$host:$port"
realm=dicom
issuer="$base/realms/$realm"
lifespan=${IDP_TOKEN_LIFESPAN:-300}
timeout=${IDP_START_TIMEOUT:-240}
# CORS origins of the viewer's token requests. Keycloak web origins have no port wildcard, so the
# default is "*": harmless here, since a code is only delivered to a loopback redirect URI and is
# useless without its PKCE verifier. List exact origins to restrict it.
viewer_origins=${IDP_VIEWER_ORIGINS:-*}
run_dir=${IDP_RUN_DIR:-$root/.data/idp}
pid_file="$run_dir/keycloak.pid"
log_file="$run_dir/keycloak.log"
template="$root/scripts/idp/dicom-realm.json"

say() { echo "idp.sh: [${SECONDS}s] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- process handling -----------------------------------------------------------------------

# kc.sh runs java as its child; the JVM is what must get SIGTERM. A pid file whose process is gone,
# or whose pid now belongs to something else, means "not running".
jvm_pid() {
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  grep -qs "keycloak" "/proc/$pid/cmdline" || return 1
  pgrep -P "$pid" java || echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

stop_idp() {
  local pid launcher waited=0
  if ! pid=$(jvm_pid); then
    rm -f "$pid_file"
    say "not running"
    return 0
  fi
  launcher=$(cat "$pid_file")
  say "stopping Keycloak (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  # SIGTERM takes about 3 s; give it 60 before forcing. Done when the JVM and kc.sh are gone
  # and the port is closed.
  while kill -0 "$pid" 2>/dev/null || kill -0 "$launcher" 2>/dev/null; do
    if [ "$waited" -ge 600 ]; then
      say "still alive after 60 s, sending SIGKILL"
      kill -KILL "$pid" "$launcher" 2>/dev/null || true
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$pid_file"
  while port_open; do
    [ "$waited" -lt 900 ] || die "port $port still open after Keycloak exited"
    sleep 0.1
    waited=$((waited + 1))
  done
  say "stopped"
}

# --- installation (once, shared by all runs) --------------------------------------------------

install_keycloak() {
  mkdir -p "$kc_parent"
  # Two worktrees starting for the first time at once must not unpack or build over each other.
  exec 9>"$kc_parent/.lock"
  flock 9
  local zip="$kc_parent/keycloak-quarkus-dist-$kc_version.zip"
  if [ ! -x "$kc_home/bin/kc.sh" ]; then
    if [ ! -f "$zip" ]; then
      say "downloading Keycloak $kc_version (Maven Central, ~170 MiB, once)"
      mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$kc_version:zip" \
        -DoutputDirectory="$kc_parent" >&2
    fi
    say "unpacking $zip"
    rm -rf "$kc_home.tmp" && mkdir "$kc_home.tmp"
    unzip -q "$zip" -d "$kc_home.tmp"
    mv "$kc_home.tmp/keycloak-$kc_version" "$kc_home" && rmdir "$kc_home.tmp"
  fi
  # The Quarkus build (20-90 s on 2 shared cores) is done once, so each start can use --optimized.
  if [ "$(cat "$kc_build_marker" 2>/dev/null)" != "${kc_build_opts[*]}" ]; then
    say "building Keycloak (${kc_build_opts[*]}), once"
    nice -n 10 "$kc_home/bin/kc.sh" build "${kc_build_opts[@]}" > "$kc_parent/build.log" 2>&1 \
      || { tail -n 40 "$kc_parent/build.log" >&2; die "kc.sh build failed (log: $kc_parent/build.log)"; }
    echo "${kc_build_opts[*]}" > "$kc_build_marker"
    rm -rf "$db_template"
  fi
  [ -f "$db_template/complete" ] || create_db_template
  flock -u 9
  exec 9>&-
}

# Starts Keycloak once on an empty database with a bootstrap admin and stops it cleanly: the
# H2 file then holds the schema and the master realm, which cost about half of a fresh start.
create_db_template() (
  say "creating the database template (once)"
  rm -rf "$db_template" && mkdir -p "$db_template" && chmod 700 "$db_template"
  random_hex > "$db_template/admin-password"
  pid_file="$db_template/keycloak.pid"
  log_file="$db_template/keycloak.log"
  deadline=$((SECONDS + timeout))
  launch "$db_template" "$(cat "$db_template/admin-password")"
  wait_for "$base/realms/master/.well-known/openid-configuration"
  stop_idp > /dev/null 2>&1
  [ -s "$db_template/keycloakdb.mv.db" ] || die "no database file in $db_template"
  rm -f "$db_template"/*.trace.db
  touch "$db_template/complete"
)

# --- secrets and key pair (per start) ----------------------------------------------------------

random_hex() { openssl rand -hex 16; }

new_run_dir() {
  # The run dir is wiped on each start: refuse anything that is not clearly a dedicated folder.
  case "$run_dir" in
    /*/*) ;;
    *) die "IDP_RUN_DIR must be an absolute path at least two levels deep: $run_dir" ;;
  esac
  [ "$run_dir" != "$root" ] && [ "$run_dir" != "$HOME" ] || die "IDP_RUN_DIR must be a dedicated folder"
  rm -rf "$run_dir"
  mkdir -p "$run_dir"
  chmod 700 "$run_dir"
  admin_password=$(random_hex)
  echo "$admin_password" > "$run_dir/admin-password"
  mkdir "$run_dir/db"
  cp "$db_template/keycloakdb.mv.db" "$run_dir/db/"
  # Backend Services key. SMART Backend Services registers the client's public key as a JWK Set
  # and the assertion names its key by the JWS `kid`; Keycloak looks the key up by that kid and
  # answers "Unable to load public key" when none matches. So the key is registered as a JWKS
  # (use.jwks.string) under kid = the RFC 7638 thumbprint, the default of `dicom-fhir
  # --smart-key` and of `dicom-fhir smart-jwk`, rather than as a certificate (whose kid Keycloak
  # derives itself, in a way no SMART client knows).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:65537 \
    -out "$run_dir/backend-key.pem" 2>/dev/null
  chmod 600 "$run_dir/backend-key.pem"
  backend_jwks > "$run_dir/backend-jwks.json"
}

b64url() { basenc --base64url -w0 | tr -d '='; }

# The public JWK Set of the backend key: {"keys": [{kty, n, e, alg RS384, use sig, kid}]}, kid =
# base64url(SHA-256('{"e":…,"kty":"RSA","n":…}')) (RFC 7638: required members, sorted, no spaces).
backend_jwks() {
  local n e kid
  n=$(openssl rsa -in "$run_dir/backend-key.pem" -noout -modulus 2>/dev/null | cut -d= -f2 | xxd -r -p | b64url)
  e=AQAB  # 65537, fixed at generation above
  kid=$(printf '{"e":"%s","kty":"RSA","n":"%s"}' "$e" "$n" | openssl dgst -sha256 -binary | b64url)
  jq -cn --arg n "$n" --arg e "$e" --arg kid "$kid" \
    '{keys: [{kty: "RSA", n: $n, e: $e, alg: "RS384", use: "sig", kid: $kid}]}'
}

# Fills @NAME@ strings of the template; an unknown placeholder is an error, not a silent literal.
fill_template() {
  values=$(jq -n \
    --argjson TOKEN_LIFESPAN "$lifespan" \
    --argjson VIEWER_ORIGINS "$(jq -cn --arg o "$viewer_origins" '$o | split(" ") | map(select(. != ""))')" \
    --arg FHIR_SECRET "$(random_hex)" \
    --arg SYSTEM_SECRET "$(random_hex)" \
    --arg SYSTEM_READ_SECRET "$(random_hex)" \
    --arg SYSTEM_R_SECRET "$(random_hex)" \
    --arg SYSTEM_S_SECRET "$(random_hex)" \
    --arg PATIENT_APP_SECRET "$(random_hex)" \
    --arg PATIENT_A_PASSWORD "$(random_hex)" \
    --arg PATIENT_B_PASSWORD "$(random_hex)" \
    --arg BACKEND_JWKS "$(cat "$run_dir/backend-jwks.json")" \
    '$ARGS.named')
  jq --argjson v "$values" 'del(._comment) | walk(
      if type == "string" and test("^@[A-Z0-9_]+@$")
      then (.[1:-1] as $k | if $v | has($k) then $v[$k] else error("unfilled placeholder " + $k) end)
      else . end)' "$template" > "$run_dir/realm-filled.json"
  chmod 600 "$run_dir/realm-filled.json"
}

# --- start ---------------------------------------------------------------------------------------

launch() { # launch DB_DIR [BOOTSTRAP_ADMIN_PASSWORD]: only an empty database takes the latter
  local db_dir=$1 bootstrap=()
  [ -z "${2:-}" ] || bootstrap=(KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$2")
  say "starting Keycloak on $base (log: $log_file)"
  # setsid: the JVM must not die with the caller's terminal or process group (pytest, CI step).
  # --cache=local: no cluster discovery on this machine's network.
  env "${bootstrap[@]}" setsid nice -n 10 "$kc_home/bin/kc.sh" start --optimized \
      --http-enabled=true --http-host="$host" --http-port="$port" \
      --hostname-strict=false --cache=local \
      --db-url="jdbc:h2:file:$db_dir/keycloakdb;NON_KEYWORDS=VALUE" \
      > "$log_file" 2>&1 < /dev/null &
  echo $! > "$pid_file"
}

fail_start() {
  say "ERROR: $*"
  tail -n 40 "$log_file" >&2 2>/dev/null || true
  stop_idp >/dev/null 2>&1 || true
  exit 1
}

# Polls url until it answers 200; fails fast if the JVM died. Deadline shared by all waits.
wait_for() {
  local url=$1
  until curl -sf -o /dev/null --max-time 5 "$url"; do
    jvm_pid > /dev/null || fail_start "Keycloak exited during startup"
    [ "$SECONDS" -lt "$deadline" ] || fail_start "not ready within ${timeout}s: $url"
    sleep 0.25
  done
}

admin() { # admin METHOD PATH [curl args...]: admin REST call, fails on HTTP >= 400
  local method=$1 path=$2
  shift 2
  curl -sf --show-error -X "$method" -H "Authorization: Bearer $admin_token" \
    -H "Content-Type: application/json" "$base/admin/realms$path" "$@"
}

setup_realm() {
  local f="$run_dir/realm-filled.json" scope client profile admin_id
  admin_token=$(curl -sf -d grant_type=password -d client_id=admin-cli -d username=admin \
    --data-urlencode "password=$(cat "$db_template/admin-password")" \
    "$base/realms/master/protocol/openid-connect/token" | jq -r .access_token) \
    || fail_start "admin token refused"
  # The template's admin password is per machine; this run's is new.
  admin_id=$(admin GET "/master/users?username=admin&exact=true" | jq -r '.[0].id')
  jq -n --arg pw "$admin_password" '{type: "password", value: $pw, temporary: false}' \
    | admin PUT "/master/users/$admin_id/reset-password" -d @- || fail_start "admin password reset failed"
  # The realm alone first, so Keycloak creates its built-in client scopes (basic gives `sub`).
  say "admin token; creating realm $realm"
  jq '.realm' "$f" | admin POST "" -d @- || fail_start "creating realm failed"
  say "realm created; client scopes, user profile, clients, users"
  jq -c '.clientScopes[]' "$f" | while read -r scope; do
    admin POST "/$realm/client-scopes" -d "$scope" || fail_start "client scope failed: $scope"
  done
  # Pitfall: an attribute not declared in the user profile is silently dropped.
  profile=$(admin GET "/$realm/users/profile" | jq --argjson add "$(jq '.userProfileAttributes' "$f")" \
    '.attributes += $add')
  admin PUT "/$realm/users/profile" -d "$profile" > /dev/null || fail_start "user profile failed"
  # One POST per client: unlike partialImport, it also creates the service-account user that
  # client_credentials needs.
  jq -c '.clients[]' "$f" | while read -r client; do
    admin POST "/$realm/clients" -d "$client" || fail_start "client failed: $(jq -r .clientId <<< "$client")"
  done
  say "clients created; users"
  jq '{ifResourceExists: "FAIL", users: .users}' "$f" \
    | admin POST "/$realm/partialImport" -d @- > /dev/null || fail_start "users import failed"
}

contract_json() {
  local f="$run_dir/realm-filled.json"
  jq -c --arg issuer "$issuer" --arg key "$run_dir/backend-key.pem" \
    --arg kid "$(jq -r '.keys[0].kid' "$run_dir/backend-jwks.json")" '
    def secret($id): (.clients[] | select(.clientId == $id) | .secret);
    def user($name): (.users[] | select(.username == $name));
    def patient($name): {client_id: "dicom-patient-app", client_secret: secret("dicom-patient-app"),
      username: $name, password: user($name).credentials[0].value,
      patient_identifier: user($name).attributes.patient_identifier[0]};
    {issuer: $issuer, audience: "dicom-fhir",
     token_endpoint: ($issuer + "/protocol/openid-connect/token"),
     authorization_endpoint: ($issuer + "/protocol/openid-connect/auth"),
     jwks_uri: ($issuer + "/protocol/openid-connect/certs"),
     introspection: {endpoint: ($issuer + "/protocol/openid-connect/token/introspect"),
                     client_id: "dicom-fhir", client_secret: secret("dicom-fhir")},
     system: {client_id: "dicom-system", client_secret: secret("dicom-system")},
     system_read: {client_id: "dicom-system-read", client_secret: secret("dicom-system-read")},
     system_r: {client_id: "dicom-system-r", client_secret: secret("dicom-system-r")},
     system_s: {client_id: "dicom-system-s", client_secret: secret("dicom-system-s")},
     backend: {client_id: "dicom-backend", private_key_pem: $key, alg: "RS384", kid: $kid},
     viewer: {client_id: "dicom-viewer"},
     patients: {A: patient("patient-a"), B: patient("patient-b")}}' "$f"
}

start_idp() {
  local pid
  if pid=$(jvm_pid); then
    say "ERROR: Keycloak already running (pid $pid, run dir $run_dir); run scripts/idp.sh stop first"
    exit 2
  fi
  port_open && die "port $port is in use by another process; set IDP_PORT"
  command -v java > /dev/null || die "java not found"
  install_keycloak
  new_run_dir
  fill_template
  deadline=$((SECONDS + timeout))
  launch "$run_dir/db"
  wait_for "$base/realms/master/.well-known/openid-configuration"
  say "Keycloak answers"
  setup_realm
  wait_for "$issuer/.well-known/openid-configuration"
  contract_json > "$run_dir/contract.json"
  say "ready in ${SECONDS}s: $issuer (pid $(jvm_pid))"
  cat "$run_dir/contract.json"
}

case "${1:-}" in
  start) start_idp ;;
  stop) stop_idp ;;
  *) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
