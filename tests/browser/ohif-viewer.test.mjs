// OHIF viewer against the example server, in Debian's headless Chromium driven by playwright-core.
//
// Uploads a small CT series (made by make_study.py) as FHIR Binary, opens the OHIF study list the
// server serves at its root with filters (wildcard patient name, date range, modality), checks the
// study is listed, opens it in the Basic Viewer, and checks that
//   - the viewport shows the image: a screenshot of the viewport's centre is not blank,
//   - scrolling to the next slice shows a different image (the series really is multi-slice),
//   - the same for a JPEG 2000 multi-frame study opened from a /viewer?StudyInstanceUIDs= link,
//   - no DICOMweb request failed (HTTP status >= 400 or a network failure) in the browser's log,
//   - OHIF went through its whole read path: study QIDO (limit=101), series QIDO, per-series
//     metadata, and one frame per slice with `transfer-syntax=*` in the Accept header.
// Writes the screenshots and the DICOMweb request log (method, URL, Accept, status, in order)
// to ARTIFACTS; tests/e2e/test_ohif_replay.py replays that sequence without a browser.
//
// Environment: DICOMFHIR_SERVER (http://127.0.0.1:PORT), STUDY_MANIFEST (make_study.py's
// manifest.json), ARTIFACTS (output directory), CHROMIUM (default /usr/bin/chromium).
// scripts/browser-test.sh sets all of them.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { centreStats, dismissOverlays, looksLikeAnImage, waitForViewportImage } from './viewport.mjs';
import { required, stepper } from './harness.mjs';

const server = required('DICOMFHIR_SERVER').replace(/\/$/, '');
const manifest = JSON.parse(fs.readFileSync(required('STUDY_MANIFEST'), 'utf8'));
const artifacts = required('ARTIFACTS');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const dicomWebPrefix = `${server}/fhir/dicomweb/`;
const slices = manifest.files.length;
const dicomWeb = [];   // every DICOMweb request, in the order the browser issued them
const failures = [];   // HTTP >= 400 or network failure, for DICOMweb requests


const step = stepper('ohif-viewer');

async function upload() {
  for (const file of [...manifest.files, manifest.multiframe.file]) {
    const response = await fetch(`${server}/fhir/Binary`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/dicom' },
      body: fs.readFileSync(file),
    });
    assert.ok(response.status === 201 || response.status === 200,
      `POST Binary ${path.basename(file)}: HTTP ${response.status} ${await response.text()}`);
  }
  step(`uploaded ${slices} instances of study ${manifest.studyInstanceUID} and a `
    + `${manifest.multiframe.frames}-frame JPEG 2000 instance of study ${manifest.multiframe.studyInstanceUID}`);
}

/**
 * Waits until the viewport shows an image (screenshots of the viewport element, polled), then
 * presses Down (next image in OHIF) and waits for a different image. Saves both screenshots.
 */
async function checkViewportShowsImages(page, label) {
  const started = Date.now();
  const { viewport, stats } = await waitForViewportImage(page);
  await page.screenshot({ path: path.join(artifacts, `viewer-${label}.png`) });
  step(`${label}: image after ${Date.now() - started} ms; viewport centre: mean ${stats.mean.toFixed(1)}, std ${stats.std.toFixed(1)}, ${stats.levels} grey levels`);
  assert.ok(looksLikeAnImage(stats),
    `${label}: the viewport stayed blank: ${JSON.stringify(stats)} (see ${artifacts}/viewer-${label}.png); `
    + `DICOMweb failures so far: ${JSON.stringify(failures)}`);
  const first = await viewport.screenshot();

  await viewport.click({ position: { x: 5, y: 5 } }).catch(() => {});
  await page.keyboard.press('ArrowDown');
  let changed = false;
  for (let i = 0; i < 40 && !changed; i++) {
    await page.waitForTimeout(250);
    const next = await viewport.screenshot();
    changed = !next.equals(first) && looksLikeAnImage(await centreStats(page, next));
  }
  await dismissOverlays(page);
  await page.screenshot({ path: path.join(artifacts, `viewer-${label}-next.png`) });
  assert.ok(changed, `${label}: the viewport did not change to another image after ArrowDown`);
  step(`${label}: next image shown`);
}

/** How the server serves the viewer (examples/.../ViewerConfig.java), checked over plain HTTP. */
async function checkServing() {
  for (const route of ['/', '/viewer?StudyInstanceUIDs=1.2.3', '/segmentation']) {
    const response = await fetch(server + route);
    const body = await response.text();
    assert.equal(response.status, 200, `GET ${route}`);
    assert.match(response.headers.get('content-type'), /^text\/html/, `GET ${route}`);
    assert.match(body, /<div id="root">/, `GET ${route}: not OHIF's index.html`);
    // Cross-origin isolation (SharedArrayBuffer for OHIF's volume rendering).
    assert.equal(response.headers.get('cross-origin-opener-policy'), 'same-origin', `GET ${route}`);
    assert.equal(response.headers.get('cross-origin-embedder-policy'), 'require-corp', `GET ${route}`);
  }
  const config = await fetch(`${server}/app-config.js`);
  assert.equal(config.status, 200);
  const configText = await config.text();
  assert.match(configText, /window\.location\.origin \+ '\/fhir\/dicomweb'/, "/app-config.js is not the server's own");
  // Login only with the smart profile (ohif-login.test.mjs); this server runs without it.
  assert.doesNotMatch(configText, /oidc/, '/app-config.js asks for a login although SMART is off');
  const missing = await fetch(`${server}/no-such-bundle.js`);
  assert.equal(missing.status, 404, 'a missing file must stay a 404, not become index.html');
  const fhir = await fetch(`${server}/fhir/metadata`, { headers: { Accept: 'application/fhir+json' } });
  assert.equal((await fhir.json()).resourceType, 'CapabilityStatement', '/fhir is still the FHIR API');
  step('viewer served at / (routes → index.html, own app-config.js, COOP/COEP, 404 for missing files)');
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  await checkServing();
  await upload();

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Flags for a machine without outside network (see docs/dicomweb.md, "Viewer").
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // A new context is a new, empty profile. Service workers are blocked so that every request
  // the app makes shows up in the network log below.
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, serviceWorkers: 'block' });

  const consoleErrors = [];
  const entries = new Map();
  context.on('request', (request) => {
    if (!request.url().startsWith(dicomWebPrefix)) return;
    const entry = {
      method: request.method(),
      url: request.url(),
      path: request.url().slice(server.length),
      accept: request.headers()['accept'] ?? null,
      status: null,
    };
    entries.set(request, entry);
    dicomWeb.push(entry);
  });
  context.on('response', (response) => {
    const entry = entries.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    entry.contentType = response.headers()['content-type'] ?? null;
    if (response.status() >= 400) failures.push(`${response.status()} ${entry.method} ${entry.path}`);
  });
  context.on('requestfinished', (request) => {
    const entry = entries.get(request);
    if (entry) entry.ms = Math.round(request.timing().responseEnd);  // request start → last byte
  });
  context.on('requestfailed', (request) => {
    if (request.url().startsWith(dicomWebPrefix)) {
      failures.push(`network failure (${request.failure()?.errorText}) ${request.method()} ${request.url()}`);
    }
  });

  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text().slice(0, 500));
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));

  try {
    // 1. Study list, with the filters a user types: a word of the patient's name (OHIF sends it
    //    as *word* with fuzzymatching), a study date range and a modality.
    const family = manifest.patientName.split('^')[0].toLowerCase();
    const year = manifest.studyDate.slice(0, 4);
    const listUrl = `${server}/?patientName=${family}&startDate=${year}0101&endDate=${year}1231&modalities=CT`;
    step(`study list: ${listUrl}`);
    await page.goto(listUrl, { waitUntil: 'load' });
    const row = page.getByText(manifest.studyDescription, { exact: true }).first();
    await row.waitFor({ timeout: 60_000 });
    await dismissOverlays(page);
    step('study listed');
    await page.screenshot({ path: path.join(artifacts, 'study-list.png') });

    // 2. Open it: select the row, then the Basic Viewer workflow.
    await row.click();
    await page.getByRole('button', { name: 'Basic Viewer' }).click();
    await page.waitForURL(/\/viewer\?/, { timeout: 30_000 });
    assert.ok(page.url().includes(`StudyInstanceUIDs=${manifest.studyInstanceUID}`), `viewer URL: ${page.url()}`);
    step(`viewer: ${page.url()}`);

    // 3. The viewport renders the image, and the next slice is another image.
    await checkViewportShowsImages(page, 'ct');

    // 4. Let OHIF finish prefetching the stack (all its requests answered) before leaving the page.
    const framesWanted = slices;
    for (const until = Date.now() + 120_000; Date.now() < until;) {
      const frames = dicomWeb.filter((e) => /\/frames\/\d/.test(e.path) && e.status !== null);
      if (frames.length >= framesWanted && dicomWeb.every((e) => e.status !== null)) break;
      await page.waitForTimeout(250);
    }

    // 5. The JPEG 2000 multi-frame study, opened from a link as other applications do
    //    (/viewer?StudyInstanceUIDs=…): OHIF decodes the compressed frames in the browser.
    const viewerUrl = `${server}/viewer?StudyInstanceUIDs=${manifest.multiframe.studyInstanceUID}`;
    step(`viewer: ${viewerUrl}`);
    await page.goto(viewerUrl, { waitUntil: 'load' });
    await checkViewportShowsImages(page, 'j2k-multiframe');
    for (let i = 0; i < 120; i++) {
      const frames = dicomWeb.filter((e) => e.path.includes(`/instances/${manifest.multiframe.sopInstanceUID}/frames/`));
      if (frames.length >= manifest.multiframe.frames && dicomWeb.every((e) => e.status !== null)) break;
      await page.waitForTimeout(250);
    }
  } finally {
    fs.writeFileSync(path.join(artifacts, 'dicomweb-requests.json'), JSON.stringify(dicomWeb, null, 2));
    fs.writeFileSync(path.join(artifacts, 'console-errors.txt'), consoleErrors.join('\n'));
    await browser.close();
  }

  const study = manifest.studyInstanceUID, series = manifest.seriesInstanceUID;
  const paths = dicomWeb.map((e) => e.path);
  step(`${dicomWeb.length} DICOMweb requests, ${failures.length} failed`);
  const timed = (filter) => dicomWeb.filter(filter).map((e) => e.ms).filter((ms) => ms >= 0).sort((a, b) => a - b);
  const metadataMs = timed((e) => e.path.endsWith('/metadata'));
  const frameMs = timed((e) => e.path.includes('/frames/'));
  const qidoMs = timed((e) => /\/dicomweb\/studies(\/[^/]+\/series)?\?/.test(e.path));
  const median = (xs) => xs.length ? xs[Math.floor(xs.length / 2)] : NaN;
  step(`browser-side times (ms): QIDO median ${median(qidoMs)} max ${qidoMs.at(-1)}; `
    + `series metadata ${metadataMs.join(', ')}; frames median ${median(frameMs)} max ${frameMs.at(-1)} (${frameMs.length})`);
  assert.deepEqual(failures, [], `DICOMweb requests failed in the browser:\n${failures.join('\n')}`);
  assert.ok(dicomWeb.every((e) => e.status !== null), 'some DICOMweb request got no response');

  const studySearch = paths.find((p) => /\/dicomweb\/studies\?/.test(p) && p.includes('limit=101'));
  assert.ok(studySearch, `no study QIDO with limit=101 in:\n${paths.join('\n')}`);
  assert.ok(paths.some((p) => p.includes(`PatientName=*${manifest.patientName.split('^')[0].toLowerCase()}*`)),
    'no wildcard PatientName study search');
  const year = manifest.studyDate.slice(0, 4);
  assert.ok(paths.some((p) => p.includes(`StudyDate=${year}0101-${year}1231`)), 'no StudyDate range study search');
  assert.ok(paths.some((p) => p.includes(`StudyInstanceUID=${study}`)), 'no study search by StudyInstanceUID');
  assert.ok(paths.some((p) => p.startsWith(`/fhir/dicomweb/studies/${study}/series?`)), 'no series QIDO');
  assert.ok(paths.includes(`/fhir/dicomweb/studies/${study}/series/${series}/metadata`), 'no series metadata request');
  const frames = dicomWeb.filter((e) => e.path.startsWith(`/fhir/dicomweb/studies/${study}/series/${series}/instances/`)
    && /\/frames\/1$/.test(e.path));
  const framedInstances = new Set(frames.map((e) => e.path.split('/instances/')[1].split('/')[0]));
  assert.equal(framedInstances.size, slices, `frames fetched for ${framedInstances.size} of ${slices} instances`);
  assert.ok(frames.every((e) => /transfer-syntax=\*/.test(e.accept ?? '')),
    `frame requests without transfer-syntax=* in Accept: ${frames.map((e) => e.accept).join(' | ')}`);
  step(`CT read path complete: study QIDO, series QIDO, series metadata, ${frames.length} frames`);

  const mf = manifest.multiframe;
  assert.ok(paths.includes(`/fhir/dicomweb/studies/${mf.studyInstanceUID}/series/${mf.seriesInstanceUID}/metadata`),
    'no metadata request for the multi-frame series');
  const mfFrames = dicomWeb.filter((e) => e.path.includes(`/instances/${mf.sopInstanceUID}/frames/`));
  const frameNumbers = new Set(mfFrames.flatMap((e) => e.path.split('/frames/')[1].split(',').map(Number)));
  assert.equal(frameNumbers.size, mf.frames, `frames fetched: ${[...frameNumbers].sort((a, b) => a - b)} of ${mf.frames}`);
  // Sent as stored (the JPEG 2000 codestream of each frame); a wrong frame fails to decode and
  // leaves the viewport blank, which checkViewportShowsImages catches.
  assert.ok(mfFrames.every((e) => /transfer-syntax=\*/.test(e.accept ?? '')), 'multi-frame frames without transfer-syntax=*');
  step(`JPEG 2000 read path complete: ${frameNumbers.size} frames, responses ${[...new Set(mfFrames.map((e) => e.contentType?.replace(/;\s*boundary=[^;]*/, '')))]}; ok`);
}

await main().catch((error) => {
  console.error(`[ohif-viewer] FAILED: ${error.stack || error}`);
  process.exit(1);
});
