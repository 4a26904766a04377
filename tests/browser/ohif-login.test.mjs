// OHIF with login: the example server in the `smart` profile, the demo identity provider
// (scripts/idp.sh, Keycloak) and Debian's headless Chromium driven by playwright-core.
//
//   1. /app-config.js carries the generated `oidc` entry (authority = the issuer, client
//      dicom-viewer, code flow, scope with launch/patient patient/*.rs);
//   2. one CT study of patient A and one of patient B are uploaded with the system client's token
//      (client_credentials);
//   3. opening the viewer without a session lands on the identity provider's login page; patient A
//      logs in (authorization code + PKCE, done by OHIF's oidc-client-ts);
//   4. the study list shows A's study and not B's (and the QIDO answers hold no study of B's);
//   5. opening A's study renders the image (the same pixel check as ohif-viewer.test.mjs), every
//      DICOMweb request of the page carried `Authorization: Bearer` and none failed;
//   6. A's access token, read from the page's OIDC session storage, gets 200 on A's WADO-RS URLs
//      (series metadata, a frame) and 403 on B's.
// On failure: a screenshot of the page (failure.png) and the request log in ARTIFACTS.
//
// Environment (scripts/browser-smart-test.sh sets all of them): DICOMFHIR_SERVER
// (http://127.0.0.1:PORT), IDP_CONTRACT (the JSON that `scripts/idp.sh start` printed),
// STUDY_A, STUDY_B (make_study.py manifests), ARTIFACTS, CHROMIUM (default /usr/bin/chromium).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dismissOverlays, looksLikeAnImage, waitForViewportImage } from './viewport.mjs';
import { openBrowser, pageErrors, pollUntil, recordRequests, required, run, stepper, uploadDicom } from './harness.mjs';

const server = required('DICOMFHIR_SERVER').replace(/\/$/, '');
const idp = JSON.parse(fs.readFileSync(required('IDP_CONTRACT'), 'utf8'));
const studyA = JSON.parse(fs.readFileSync(required('STUDY_A'), 'utf8'));
const studyB = JSON.parse(fs.readFileSync(required('STUDY_B'), 'utf8'));
const artifacts = required('ARTIFACTS');
const timings = {};

const step = stepper('ohif-login');

async function timed(name, action) {
  const started = Date.now();
  try {
    return await action();
  } finally {
    timings[name] = Date.now() - started;
  }
}

async function systemToken() {
  const response = await fetch(idp.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: idp.system.client_id,
      client_secret: idp.system.client_secret,
    }),
  });
  assert.equal(response.status, 200, `system token: HTTP ${response.status}`);
  return (await response.json()).access_token;
}

async function checkAppConfig() {
  const response = await fetch(`${server}/app-config.js`);
  assert.equal(response.status, 200, 'GET /app-config.js');
  const text = await response.text();
  const match = text.match(/window\.config\.oidc = (\[[\s\S]*?\]);/);
  assert.ok(match, `/app-config.js has no oidc entry although the server runs in the smart profile:\n${text.slice(-800)}`);
  const [oidc] = JSON.parse(match[1]);
  assert.equal(oidc.authority, idp.issuer, 'oidc authority');
  assert.equal(oidc.client_id, idp.viewer.client_id, 'oidc client_id');
  assert.equal(oidc.response_type, 'code', 'oidc response_type (code + PKCE)');
  assert.equal(oidc.redirect_uri, '/callback', 'oidc redirect_uri');
  assert.deepEqual(oidc.scope.split(' ').sort(), ['launch/patient', 'openid', 'patient/*.rs'], 'oidc scope');
  step(`/app-config.js: oidc ${JSON.stringify(oidc)}`);
}

async function upload(token, manifest) {
  await uploadDicom(server, manifest.files, { token, who: manifest.patientID });
  step(`uploaded ${manifest.files.length} instances of ${manifest.patientID}'s study ${manifest.studyInstanceUID}`);
}

/** WADO-RS URLs of a study: study and series metadata, and frame 1 of its first instance. */
async function wadoUrls(manifest, systemToken) {
  const study = `${server}/fhir/dicomweb/studies/${manifest.studyInstanceUID}`;
  const series = `${study}/series/${manifest.seriesInstanceUID}`;
  const response = await fetch(`${series}/metadata`, { headers: { Authorization: `Bearer ${systemToken}` } });
  assert.equal(response.status, 200, `series metadata of ${manifest.patientID} with the system token`);
  const sop = (await response.json())[0]['00080018'].Value[0];
  return { studyMetadata: `${study}/metadata`, seriesMetadata: `${series}/metadata`, frame: `${series}/instances/${sop}/frames/1` };
}

async function status(url, token, accept) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Polls screenshots of the viewport until it shows an image (as ohif-viewer.test.mjs does).
 * `failures`: the DICOMweb failures so far, for the message.
 */
async function waitForImage(page, failures) {
  const { stats } = await waitForViewportImage(page);
  await page.screenshot({ path: path.join(artifacts, 'viewer-patient-a.png') });
  assert.ok(looksLikeAnImage(stats),
    `the viewport stayed blank: ${JSON.stringify(stats)}; DICOMweb failures: ${JSON.stringify(failures)}`);
  return stats;
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  await checkAppConfig();

  // Without a token the facade answers nothing: the login is what lets the viewer in.
  const anonymous = await fetch(`${server}/fhir/dicomweb/studies`);
  assert.equal(anonymous.status, 401, 'QIDO without a token');

  const system = await systemToken();
  await upload(system, studyA);
  await upload(system, studyB);

  const { browser, context } = await openBrowser();
  const qidoBodies = [];
  // Every DICOMweb request of the page, in order (whether it carried a bearer token, never the
  // token itself); the failures among them.
  const { requests: dicomWeb, failures, answered } = recordRequests(context, server, {
    describe: (request) => {
      const authorization = request.headers()['authorization'] ?? null;
      return { authorization: /^Bearer \S+$/.test(authorization ?? '') ? 'Bearer' : authorization };
    },
    onResponse: (response, entry) => {
      if (/\/dicomweb\/studies\?/.test(entry.path) && response.status() === 200) {
        qidoBodies.push(response.text().catch(() => '[]'));
      }
    },
  });
  const page = await context.newPage();
  const consoleErrors = pageErrors(page);

  let accessToken;
  try {
    // 1. The study list, without a session: OHIF sends the browser to the identity provider.
    const loginPage = `${idp.authorization_endpoint}`;
    await timed('redirect to login', async () => {
      await page.goto(`${server}/`, { waitUntil: 'load' });
      await page.waitForURL((url) => url.href.startsWith(loginPage), { timeout: 60_000 });
    });
    const authorize = new URL(page.url());
    assert.equal(authorize.searchParams.get('client_id'), idp.viewer.client_id, 'client_id of the login');
    assert.equal(authorize.searchParams.get('response_type'), 'code', 'response_type of the login');
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256', 'PKCE of the login');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${server}/callback`, 'redirect_uri of the login');
    step(`login page: ${authorize.origin}${authorize.pathname} (code + PKCE S256, redirect ${authorize.searchParams.get('redirect_uri')})`);
    await page.screenshot({ path: path.join(artifacts, 'login.png') });

    // 2. Patient A logs in; Keycloak redirects to /callback, OHIF exchanges the code and goes
    //    back to the study list.
    const a = idp.patients.A;
    await timed('login to study list', async () => {
      await page.locator('#username').fill(a.username);
      await page.locator('#password').fill(a.password);
      await page.locator('#kc-login').click();
      await page.waitForURL((url) => url.href.startsWith(server) && !url.pathname.startsWith('/callback'), { timeout: 60_000 });
      await page.getByText(studyA.studyDescription, { exact: true }).first().waitFor({ timeout: 60_000 });
    });
    await dismissOverlays(page);
    await page.screenshot({ path: path.join(artifacts, 'study-list-patient-a.png') });
    step(`logged in as ${a.username}; study list at ${page.url()} shows ${studyA.studyDescription}`);

    // 3. A's study and not B's: on the page and in every study QIDO answer.
    assert.equal(await page.getByText(studyB.studyDescription).count(), 0, "B's study is listed for A");
    const answers = (await Promise.all(qidoBodies)).map((body) => JSON.parse(body || '[]'));
    assert.ok(answers.length > 0, 'no study QIDO answer seen');
    const listed = new Set(answers.flat().map((study) => study['0020000D']?.Value?.[0]));
    assert.ok(listed.has(studyA.studyInstanceUID), `A's study not in the QIDO answers: ${[...listed]}`);
    assert.ok(!listed.has(studyB.studyInstanceUID), "B's study is in a QIDO answer for A");
    step(`study QIDO answers list ${listed.size} study(ies): A's only`);

    // 4. Open A's study in the Basic Viewer: the image is drawn.
    await timed('open study to image', async () => {
      await page.getByText(studyA.studyDescription, { exact: true }).first().click();
      await page.getByRole('button', { name: 'Basic Viewer' }).click();
      await page.waitForURL(/\/viewer\?/, { timeout: 30_000 });
      const stats = await waitForImage(page, failures);
      step(`viewer ${page.url()}: image drawn (viewport centre mean ${stats.mean.toFixed(1)}, std ${stats.std.toFixed(1)}, ${stats.levels} grey levels)`);
    });

    // 5. The access token OHIF holds (oidc-client-ts keeps the user in sessionStorage under
    //    oidc.user:<authority>:<client_id>).
    const key = `oidc.user:${idp.issuer}:${idp.viewer.client_id}`;
    const stored = await page.evaluate((k) => sessionStorage.getItem(k), key);
    assert.ok(stored, `no ${key} in the page's sessionStorage`);
    accessToken = JSON.parse(stored).access_token;
    const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
    assert.equal(claims.patient_identifier, a.patient_identifier, "the page's token is not patient A's");
    step(`page token: azp ${claims.azp}, scope "${claims.scope}", patient_identifier ${claims.patient_identifier}`);
    // The viewer's last prefetches answered before leaving (a request cut off by closing the page
    // would be a failure): poll until every recorded DICOMweb request has its status.
    await pollUntil(page, answered, 60_000, 100);
  } catch (error) {
    await page.screenshot({ path: path.join(artifacts, 'failure.png') }).catch(() => {});
    throw error;
  } finally {
    fs.writeFileSync(path.join(artifacts, 'dicomweb-requests.json'), JSON.stringify(dicomWeb, null, 2));
    fs.writeFileSync(path.join(artifacts, 'console-errors.txt'), consoleErrors.join('\n'));
    await browser.close();
  }

  step(`${dicomWeb.length} DICOMweb requests from the page, ${failures.length} failed`);
  assert.deepEqual(failures, [], `DICOMweb requests failed in the browser:\n${failures.join('\n')}`);
  const bare = dicomWeb.filter((e) => e.authorization !== 'Bearer');
  assert.deepEqual(bare, [], 'DICOMweb requests of the page without a bearer token');
  assert.ok(dicomWeb.some((e) => e.path.includes('/frames/')), 'the page fetched no frame');

  // 6. A's token on A's and on B's WADO-RS URLs (what a copied link or a hand-made request sends).
  const json = 'application/dicom+json';
  const frames = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
  const results = {};
  for (const [who, manifest] of [['A', studyA], ['B', studyB]]) {
    const urls = await wadoUrls(manifest, system);
    results[`${who} study metadata`] = await status(urls.studyMetadata, accessToken, json);
    results[`${who} series metadata`] = await status(urls.seriesMetadata, accessToken, json);
    results[`${who} frame`] = await status(urls.frame, accessToken, frames);
  }
  step(`A's token: ${JSON.stringify(results)}`);
  for (const [name, got] of Object.entries(results)) {
    assert.equal(got, name.startsWith('A ') ? 200 : 403, `A's token on ${name}`);
  }
  step(`timings (ms): ${JSON.stringify(timings)}`);
}

await run('ohif-login', main);
