// What the ohif-*.test.mjs files share besides OHIF's page (viewport.mjs): the environment the
// calling script (scripts/browser-test.sh, scripts/browser-smart-test.sh) must set, progress
// lines, the browser, the recorder of the requests it makes, its page errors, polling, uploads.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/** The value of an environment variable the calling script sets; exits 2 when it is missing. */
export function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the script that runs this test)`);
    process.exit(2);
  }
  return value;
}

/** A progress printer: `[tag] message`. */
export function stepper(tag) {
  return (message) => console.log(`[${tag}] ${message}`);
}

/** Runs a test's main(); on failure prints `[tag] FAILED: …` and exits 1. */
export async function run(tag, main) {
  await main().catch((error) => {
    console.error(`[${tag}] FAILED: ${error.stack || error}`);
    process.exit(1);
  });
}

/**
 * Debian's headless Chromium (CHROMIUM, default /usr/bin/chromium) and a new browser context in
 * it. A new context is a new, empty profile; service workers are blocked so that every request
 * the app makes shows up in recordRequests.
 */
export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Flags for a machine without outside network (see docs/dicomweb.md, "Viewer").
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, serviceWorkers: 'block' });
  return { browser, context };
}

/**
 * Records, in the order the browser issued them, the requests of `context` that `matches` (by
 * default: the server's DICOMweb, `${server}/fhir/dicomweb/`): method, url, path (the url after
 * `server`), status (null until answered, 'failed' on a network failure), ms (request start →
 * last byte) and what `describe(request)` adds. `failures` lists the answers >= 400 and the
 * network failures, but those `expectedFailure(request)` accepts. `onResponse(response, entry)`
 * sees each recorded answer (e.g. to keep a body). `answered()`: no recorded request is pending.
 */
export function recordRequests(context, server, {
  matches = (url) => url.startsWith(`${server}/fhir/dicomweb/`),
  describe = () => ({}),
  onResponse = () => {},
  expectedFailure = () => false,
} = {}) {
  const requests = [];
  const failures = [];
  const entries = new Map();
  context.on('request', (request) => {
    if (!matches(request.url())) return;
    const entry = {
      method: request.method(),
      url: request.url(),
      path: request.url().slice(server.length),
      status: null,
      ...describe(request),
    };
    entries.set(request, entry);
    requests.push(entry);
  });
  context.on('response', async (response) => {
    const entry = entries.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    if (response.status() >= 400) failures.push(`${response.status()} ${entry.method} ${entry.path}`);
    await onResponse(response, entry);
  });
  context.on('requestfinished', (request) => {
    const entry = entries.get(request);
    if (entry) entry.ms = Math.round(request.timing().responseEnd);
  });
  context.on('requestfailed', (request) => {
    const entry = entries.get(request);
    if (!entry) return;
    entry.status = 'failed';
    if (expectedFailure(request)) return;
    failures.push(`network failure (${request.failure()?.errorText}) ${entry.method} ${entry.url}`);
  });
  return { requests, failures, answered: () => requests.every((e) => e.status !== null) };
}

/** The console errors and uncaught errors of a page, as they come. */
export function pageErrors(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text().slice(0, 500));
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  return errors;
}

/**
 * Polls `done()` every `everyMs` (page.waitForTimeout: the page runs meanwhile) until it is true
 * or `timeoutMs` passed; whether it became true. The caller asserts on what it waited for.
 */
export async function pollUntil(page, done, timeoutMs, everyMs = 250) {
  for (const until = Date.now() + timeoutMs; Date.now() < until;) {
    if (await done()) return true;
    await page.waitForTimeout(everyMs);
  }
  return Boolean(await done());
}

/** POST /fhir/Binary of each file as application/dicom (with a bearer token when given); 200 or 201 each. */
export async function uploadDicom(server, files, { token, who = '' } = {}) {
  for (const file of files) {
    const headers = { 'Content-Type': 'application/dicom' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${server}/fhir/Binary`, { method: 'POST', headers, body: fs.readFileSync(file) });
    assert.ok(response.status === 201 || response.status === 200,
      `POST Binary ${path.basename(file)}${who ? ` (${who})` : ''}: HTTP ${response.status} ${await response.text()}`);
  }
}
