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
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { centreStats, dismissOverlays, looksLikeAnImage, waitForViewportImage } from './viewport.mjs';
import { openBrowser, pageErrors, pollUntil, recordRequests, required, run, stepper, uploadDicom } from './harness.mjs';

const server = required('DICOMFHIR_SERVER').replace(/\/$/, '');
const manifest = JSON.parse(fs.readFileSync(required('STUDY_MANIFEST'), 'utf8'));
const artifacts = required('ARTIFACTS');
const slices = manifest.files.length;

const step = stepper('ohif-viewer');

async function upload() {
  await uploadDicom(server, [...manifest.files, manifest.multiframe.file]);
  step(`uploaded ${slices} instances of study ${manifest.studyInstanceUID} and a `
    + `${manifest.multiframe.frames}-frame JPEG 2000 instance of study ${manifest.multiframe.studyInstanceUID}`);
}

/**
 * Waits until the viewport shows an image (screenshots of the viewport element, polled), then
 * presses Down (next image in OHIF) and waits for a different image. Saves both screenshots.
 * `failures`: the DICOMweb failures so far, for the message.
 */
async function checkViewportShowsImages(page, label, failures) {
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
  const changed = await pollUntil(page, async () => {
    const next = await viewport.screenshot();
    return !next.equals(first) && looksLikeAnImage(await centreStats(page, next));
  }, 10_000);
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

  const { browser, context } = await openBrowser();
  // Every DICOMweb request, in the order the browser issued them; the failures among them.
  const { requests: dicomWeb, failures, answered } = recordRequests(context, server, {
    describe: (request) => ({ accept: request.headers()['accept'] ?? null }),
    onResponse: (response, entry) => { entry.contentType = response.headers()['content-type'] ?? null; },
  });
  const page = await context.newPage();
  const consoleErrors = pageErrors(page);

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
    await checkViewportShowsImages(page, 'ct', failures);

    // 4. Let OHIF finish prefetching the stack (all its requests answered) before leaving the page.
    await pollUntil(page, () => answered()
      && dicomWeb.filter((e) => /\/frames\/\d/.test(e.path) && e.status !== null).length >= slices, 120_000);

    // 5. The JPEG 2000 multi-frame study, opened from a link as other applications do
    //    (/viewer?StudyInstanceUIDs=…): OHIF decodes the compressed frames in the browser.
    const viewerUrl = `${server}/viewer?StudyInstanceUIDs=${manifest.multiframe.studyInstanceUID}`;
    step(`viewer: ${viewerUrl}`);
    await page.goto(viewerUrl, { waitUntil: 'load' });
    await checkViewportShowsImages(page, 'j2k-multiframe', failures);
    await pollUntil(page, () => answered() && dicomWeb.filter(
      (e) => e.path.includes(`/instances/${manifest.multiframe.sopInstanceUID}/frames/`)).length >= manifest.multiframe.frames, 30_000);
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
  assert.ok(answered(), 'some DICOMweb request got no response');

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

await run('ohif-viewer', main);
