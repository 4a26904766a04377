#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: Rust unit and corpus tests, the Maven build
# with its JUnit integration tests against a real HAPI JPA server, the end-to-end Python tests
# against the example server started from the built JAR, the DIMSE gateway (`dicom-fhir listen`)
# with dcmtk and pynetdicom, the OHIF viewer in headless Chromium
# (also with a Keycloak login in the smart profile), SMART on FHIR tokens from a real Keycloak on
# every path, a differential QIDO test against Orthanc, two such servers on one PostgreSQL, and the integrity
# tests: hostile input, SIGKILL during ingest, requests larger than the heap.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

for tool in cargo java mvn python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install it first (see README)"; exit 1; }
done

echo "== test corpus (pydicom and pydicom-data wheels from PyPI)"
./scripts/fetch-test-data.sh

echo "== Rust: cargo test"
cargo test --workspace --locked

echo "== Java: mvn install (builds the native library, runs the JUnit integration tests)"
mvn -B -ntp install

echo "== README's server command: scripts/serve.sh starts the built server (with its class data sharing archive)"
./scripts/serve-test.sh

echo "== End-to-end: Python clients against the example server"
./scripts/e2e.sh

echo "== DIMSE: dicom-fhir listen (C-ECHO, C-STORE) with dcmtk and pynetdicom against the example server"
./scripts/dimse-test.sh

echo "== Adversarial: what a careless modality, a broken file and an attacker send (docs/security.md)"
./scripts/adversarial.sh

echo "== Crash: SIGKILL mid-ingest, restart under the same and another node id; nothing acknowledged is lost"
./scripts/crash-test.sh

echo "== Memory: a 1 GiB heap against a 3 GiB Binary POST and a 2 x 1.5 GiB STOW-RS"
./scripts/memory-test.sh

echo "== Browser: the OHIF viewer in headless Chromium (Debian chromium + playwright-core)"
./scripts/browser-test.sh

echo "== SMART on FHIR: every FHIR and DICOMweb path x every kind of token, against a real Keycloak (scripts/idp.sh)"
./scripts/smart-test.sh

echo "== Browser with login: OHIF in the smart profile, Keycloak login as patient A (scripts/idp.sh)"
./scripts/browser-smart-test.sh

echo "== DICOMweb differential test: the same corpus in our facade and in Orthanc (loopback-only namespace)"
./scripts/orthanc.sh ns .venv/bin/python -m pytest -q tests/orthanc

echo "== Two nodes with the plugin on one PostgreSQL (installed from Debian packages if missing)"
./scripts/cluster-test.sh
