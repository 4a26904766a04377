// OHIF on another origin than the server, the usual deployment: a tiny static file server (here,
// node:http on another loopback port) serves the OHIF build with an app-config.js whose data
// source is the example server's DICOMweb URL. The server runs with its defaults, where CORS is
// on (hapi.fhir.cors.*: any origin). Checks, in Debian's headless Chromium:
//   - the study list loads (no "Data Source Connection Error") and lists every stored study,
//   - a study opens: its viewport shows an image, its frames are answered 200,
//   - every DICOMweb request went to the server's origin, was answered with an
//     Access-Control-Allow-Origin the page accepts, and none failed (status >= 400, network or
//     CORS failure).
// The static server sends COOP/COEP like the example server does for its own viewer, so the page
// is cross-origin isolated and every cross-origin answer must pass CORS.
//
// Environment: DICOMFHIR_SERVER (http://127.0.0.1:PORT), VIEWER_DIR (OHIF's dist, .viewer/ohif),
// STUDY_MANIFEST (make_study.py's manifest.json: the study to open), ARTIFACTS, CHROMIUM.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { looksLikeAnImage, openStudyList, waitForViewportImage } from './viewport.mjs';
import { openBrowser, pageErrors, pollUntil, recordRequests, required, run, stepper } from './harness.mjs';

const server = required('DICOMFHIR_SERVER').replace(/\/$/, '');
const viewerDir = path.resolve(required('VIEWER_DIR'));
const manifest = JSON.parse(fs.readFileSync(required('STUDY_MANIFEST'), 'utf8'));
const artifacts = required('ARTIFACTS');
const dicomWeb = `${server}/fhir/dicomweb`;

const step = stepper('ohif-cross-origin');

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.woff': 'font/woff', '.woff2': 'font/woff2',
  '.txt': 'text/plain', '.map': 'application/json',
};

/**
 * The static server: OHIF's files, index.html for its routes (/viewer, /segmentation, …), and an
 * app-config.js that is the example server's own with the DICOMweb root made absolute.
 */
async function startStaticServer() {
  const config = await (await fetch(`${server}/app-config.js`)).text();
  const sameOrigin = "window.location.origin + '/fhir/dicomweb'";
  assert.ok(config.includes(sameOrigin), "the server's app-config.js no longer builds its root from window.location.origin");
  const appConfig = config.replace(sameOrigin, JSON.stringify(dicomWeb));
  const index = fs.readFileSync(path.join(viewerDir, 'index.html'));
  const staticServer = http.createServer((request, response) => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const urlPath = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    if (urlPath === '/app-config.js') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript' });
      response.end(appConfig);
      return;
    }
    const file = path.join(viewerDir, path.normalize(urlPath));
    if (file.startsWith(viewerDir + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
      response.writeHead(200, { ...headers, 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
      fs.createReadStream(file).pipe(response);
    } else if (!path.extname(urlPath)) {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      response.end(index);
    } else {
      response.writeHead(404, headers);
      response.end();
    }
  });
  await new Promise((resolve) => staticServer.listen(0, '127.0.0.1', resolve));
  return staticServer;
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const stored = await (await fetch(`${dicomWeb}/studies?limit=1000`, { headers: { Accept: 'application/dicom+json' } })).json();
  const staticServer = await startStaticServer();
  const viewer = `http://127.0.0.1:${staticServer.address().port}`;
  assert.notEqual(new URL(viewer).origin, new URL(server).origin);
  step(`OHIF at ${viewer}, DICOMweb at ${dicomWeb}, ${stored.length} studies stored`);

  const { browser, context } = await openBrowser();
  // Every FHIR and DICOMweb request, wherever it went (the test asserts it went to the server).
  const { requests, failures, answered } = recordRequests(context, server, {
    matches: (url) => url.includes('/fhir/'),
    describe: () => ({ allowOrigin: null }),
    onResponse: (response, entry) => { entry.allowOrigin = response.headers()['access-control-allow-origin'] ?? null; },
  });
  const page = await context.newPage();
  const consoleErrors = pageErrors(page);

  try {
    // The study list: every stored study ("1-50 of N").
    const count = await openStudyList(page, `${viewer}/`, stored.length);
    await page.screenshot({ path: path.join(artifacts, 'cross-origin-study-list.png') });
    assert.ok(!(await page.getByText('Data Source Connection Error').first().isVisible().catch(() => false)),
      `the study list shows "Data Source Connection Error"; console: ${consoleErrors.join(' | ')}`);
    assert.ok(await count.isVisible(), `the study list does not say "… of ${stored.length}"; console: ${consoleErrors.join(' | ')}`);
    step(`study list: "… of ${stored.length}" shown`);

    // A study: the viewport shows an image and the frames come from the other origin.
    await page.goto(`${viewer}/viewer?StudyInstanceUIDs=${manifest.studyInstanceUID}`, { waitUntil: 'load' });
    const { stats } = await waitForViewportImage(page);
    await page.screenshot({ path: path.join(artifacts, 'cross-origin-viewer.png') });
    assert.ok(looksLikeAnImage(stats), `the viewport stayed blank: ${JSON.stringify(stats)}; failures: ${failures.join(' | ')}`);
    // Let the stack's prefetch finish, so that no request is cut off by closing the page.
    await pollUntil(page, () => answered()
      && requests.filter((e) => e.url.includes('/frames/') && e.status === 200).length >= manifest.files.length, 60_000);
  } finally {
    fs.writeFileSync(path.join(artifacts, 'cross-origin-requests.json'), JSON.stringify(requests, null, 2));
    await browser.close();
    staticServer.close();
  }

  assert.deepEqual(failures, [], `requests failed:\n${failures.join('\n')}`);
  assert.ok(requests.length > 0 && requests.every((e) => e.url.startsWith(`${server}/fhir/`)),
    'a FHIR or DICOMweb request did not go to the server');
  const badCors = requests.filter((e) => e.allowOrigin !== '*' && e.allowOrigin !== viewer);
  assert.deepEqual(badCors, [], `answers without an Access-Control-Allow-Origin for ${viewer}`);
  const frames = requests.filter((e) => e.url.includes(`/studies/${manifest.studyInstanceUID}/`) && e.url.includes('/frames/'));
  assert.ok(frames.length >= manifest.files.length, `${frames.length} frames fetched of ${manifest.files.length}`);
  step(`study opened: image shown, ${requests.length} cross-origin requests (${frames.length} frames), `
    + `Access-Control-Allow-Origin: ${[...new Set(requests.map((e) => e.allowOrigin))].join(', ')}; ok`);
}

await run('ohif-cross-origin', main);
