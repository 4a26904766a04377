// OHIF on real-world data: the whole pydicom + pydicom-data corpus, stored by `dicom-fhir upload`
// (scripts/browser-test.sh), in OHIF served by the example server, in Debian's headless Chromium.
//
//   1. The upload report: what the server refused, and why (conflicting instances of the same SOP
//      Instance UID, invalid files) is printed and written to ARTIFACTS; every refusal must be one
//      of those two kinds, and something must have been stored.
//   2. The study list without filters: no "Data Source Connection Error", no error notification,
//      and OHIF's own study query answered every stored study (the QIDO answer the browser got
//      holds the same StudyInstanceUIDs as the facade's full list), shown as "1-50 of N".
//   3. Every study that has images, opened by /viewer?StudyInstanceUIDs= in the same page (one
//      browser, one page, about 2 s a study): every image display set OHIF makes (its stack
//      handler, read from its DisplaySetService) of a series it can show got at least one frame
//      answered 200 (thumbnail or viewport), no error notification shows, no DICOMweb request
//      failed (status >= 400 or a network failure; a request cut off because the page moved on
//      to the next study is not one). The series OHIF cannot show are named with their reason
//      (no Pixel Data in an image SOP class: its frames are rightly 404; a segmented palette
//      colour LUT; a SOP class OHIF marks unsupported), as in docs/dicomweb.md, "Answers shaped
//      for viewers"; only in their studies may an error show.
//   4. Series without pixel data (SR, RT Plan, ECG, …) are listed with their SOP class; the
//      studies that have only those are not opened (no image to check).
//
// Environment: DICOMFHIR_SERVER (http://127.0.0.1:PORT), UPLOAD_REPORT (`dicom-fhir upload
// --report` JSON), ARTIFACTS, CHROMIUM (default /usr/bin/chromium). scripts/browser-test.sh sets them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openStudyList } from './viewport.mjs';
import { openBrowser, pageErrors, recordRequests, required, run, stepper } from './harness.mjs';

const server = required('DICOMFHIR_SERVER').replace(/\/$/, '');
const report = JSON.parse(fs.readFileSync(required('UPLOAD_REPORT'), 'utf8'));
const artifacts = required('ARTIFACTS');
const dicomWeb = `${server}/fhir/dicomweb`;
// How long one study may take to get a frame for every series with pixel data.
const STUDY_TIMEOUT_MS = 30_000;

const step = stepper('ohif-corpus');

const str = (attrs, tag) => attrs?.[tag]?.Value?.[0];

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
  assert.equal(response.status, 200, `GET ${url}`);
  return response.json();
}

/** 1. What the upload stored and refused; a refusal is a conflict or an invalid file, nothing else. */
function checkUploadReport() {
  const refused = report.failed.map((f) => ({
    file: path.relative('.data', f.path),
    kind: /HTTP 409/.test(f.reason) ? 'conflict' : /invalid DICOM|HTTP 422|HTTP 400/.test(f.reason) ? 'invalid' : 'other',
    reason: f.reason.replace(/ To correct an instance.*$/, '').slice(0, 200),
  }));
  fs.writeFileSync(path.join(artifacts, 'corpus-refused.json'), JSON.stringify(refused, null, 2));
  const count = (kind) => refused.filter((r) => r.kind === kind).length;
  step(`upload: ${report.files} files, ${report.stored} instances stored, ${report.duplicates} duplicates, `
    + `${report.not_dicom.length ?? report.not_dicom} not DICOM (no DICM prefix, skipped by the tool), refused: ${count('conflict')} conflicts `
    + `(same SOP Instance UID, other bytes), ${count('invalid')} invalid (see corpus-refused.json)`);
  for (const r of refused.filter((r) => r.kind === 'invalid')) step(`  refused as invalid: ${r.file}: ${r.reason}`);
  const other = refused.filter((r) => r.kind === 'other');
  assert.deepEqual(other, [], 'refusals that are neither a conflict nor an invalid file');
  assert.ok(report.stored > 100, `only ${report.stored} instances stored`);
}

/**
 * Why OHIF 3.13 cannot show an image series, from the series' own metadata (null: it can). These
 * are the only reasons a series with pixels may go without frames or an image study may show an
 * error; each is in docs/dicomweb.md ("Viewer (OHIF)", "What OHIF cannot show").
 */
function cannotShow(instances) {
  const has = (tag) => instances.some((i) => i[tag] !== undefined);
  if (!['7FE00010', '7FE00008', '7FE00009'].some(has)) {
    return 'no Pixel Data although its SOP class is an image (the frames are 404, OHIF asks for them anyway)';
  }
  if (has('00281221')) return 'segmented palette colour lookup table (0028,1221-1223): OHIF does not read it';
  return null;
}

/** The facade's own view of the store: every study, and per study its series with metadata. */
async function storedStudies() {
  const studies = await getJson(`${dicomWeb}/studies?limit=1000`);
  const result = [];
  for (const study of studies) {
    const uid = str(study, '0020000D');
    const instances = await getJson(`${dicomWeb}/studies/${uid}/metadata`);
    const bySeries = new Map();
    for (const instance of instances) {
      const seriesUid = str(instance, '0020000E');
      if (!bySeries.has(seriesUid)) bySeries.set(seriesUid, []);
      bySeries.get(seriesUid).push(instance);
    }
    const series = [...bySeries].map(([seriesUid, list]) => ({
      uid: seriesUid,
      sopClasses: [...new Set(list.map((i) => str(i, '00080016')))],
      pixels: list.some((i) => str(i, '00280010') !== undefined),
      cannotShow: list.some((i) => str(i, '00280010') !== undefined) ? cannotShow(list) : null,
    }));
    result.push({ uid, description: str(study, '00081030') ?? '', series });
  }
  return result;
}

/** OHIF's display sets of the open page (its DisplaySetService): which handler took which series. */
async function displaySets(page) {
  return page.evaluate(() => {
    const services = window.services ?? window.servicesManager?.services;
    if (!services) return null;
    return services.displaySetService.getActiveDisplaySets().map((d) => ({
      series: d.SeriesInstanceUID,
      handler: String(d.SOPClassHandlerId ?? '').split('.').pop(),
      unsupported: Boolean(d.unsupported),
      sopClass: d.SOPClassUID ?? null,
    }));
  });
}

/** OHIF's error notifications (sonner toasts of type error) and its study-list error. */
async function errorsShown(page) {
  return page.evaluate(() => {
    const errors = [...document.querySelectorAll('[data-sonner-toast][data-type="error"]')]
      .map((toast) => toast.textContent.trim());
    if (document.body.innerText.includes('Data Source Connection Error')) errors.push('Data Source Connection Error');
    return errors;
  });
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  checkUploadReport();
  const studies = await storedStudies();
  const withImages = studies.filter((s) => s.series.some((x) => x.pixels));
  step(`${studies.length} studies stored, ${withImages.length} with pixel data`);
  // Series whose frames are rightly 404: image SOP class, but no Pixel Data.
  const noPixelData = studies.flatMap((s) => s.series.filter((x) => x.cannotShow?.startsWith('no Pixel Data')).map((x) => x.uid));

  const { browser, context } = await openBrowser();
  let currentStudy = -1;  // index of the study the page shows (-1: the study list)
  const studyQidoAnswers = [];
  const { requests, failures } = recordRequests(context, server, {
    onResponse: async (response, entry) => {
      if (/\/dicomweb\/studies\?/.test(entry.path) && entry.path.includes('limit=101')) {
        studyQidoAnswers.push(await response.json().catch(() => null));
      }
    },
    // Leaving a page aborts its pending requests (prefetch of the previous study): not a failure.
    expectedFailure: (request) => request.failure()?.errorText === 'net::ERR_ABORTED'
      && !request.url().includes(`/studies/${withImages[currentStudy]?.uid}/`),
  });
  const page = await context.newPage();
  const errorsOfPage = pageErrors(page);

  const results = [];
  try {
    // 2. The study list, without filters: OHIF's first query (limit=101) and its answer.
    const started = Date.now();
    const countText = await openStudyList(page, `${server}/`, studies.length);
    await page.screenshot({ path: path.join(artifacts, 'corpus-study-list.png') });
    assert.deepEqual(await errorsShown(page), [], 'the study list shows an error');
    assert.ok(studyQidoAnswers.length > 0 && Array.isArray(studyQidoAnswers.at(-1)), 'no answer to OHIF\'s study query');
    const listed = new Set(studyQidoAnswers.at(-1).map((s) => str(s, '0020000D')));
    const missing = studies.filter((s) => !listed.has(s.uid)).map((s) => s.uid);
    assert.deepEqual(missing, [], 'stored studies missing from OHIF\'s study query');
    assert.ok(await countText.isVisible(), `the study list does not say "… of ${studies.length}"`);
    assert.deepEqual(failures, [], 'DICOMweb requests of the study list failed');
    step(`study list: ${listed.size} studies listed, "1-50 of ${studies.length}" shown, in ${Date.now() - started} ms`);

    // 3. Every study with images, in the same page. A study is done when OHIF asked for the
    //    metadata of each of its series, every image display set (OHIF's stack handler) of a
    //    series it can show got a frame answered 200, and no DICOMweb request is pending.
    for (const [index, study] of withImages.entries()) {
      const t0 = Date.now();
      currentStudy = index;
      const firstRequest = requests.length;
      const failuresBefore = failures.length;
      await page.goto(`${server}/viewer?StudyInstanceUIDs=${study.uid}`, { waitUntil: 'load' });
      const mine = () => requests.slice(firstRequest);
      const framed = () => {
        const ok = new Set();
        for (const e of mine()) {
          const m = e.path.match(/\/series\/([^/]+)\/instances\/[^/]+\/frames\//);
          if (m && e.status === 200) ok.add(m[1]);
        }
        return ok;
      };
      const showable = (uid) => !study.series.find((x) => x.uid === uid)?.cannotShow;
      let errors = [], sets = [];
      for (const until = Date.now() + STUDY_TIMEOUT_MS; Date.now() < until;) {
        errors = await errorsShown(page);
        sets = (await displaySets(page)) ?? [];
        const ok = framed();
        const metadataAsked = study.series.every((x) => mine().some((e) => e.path.includes(`/series/${x.uid}/metadata`)));
        const stacks = sets.filter((d) => d.handler === 'stack' && !d.unsupported && showable(d.series));
        if (sets.length && metadataAsked && stacks.every((d) => ok.has(d.series))
          && mine().every((e) => e.status !== null)) break;
        await page.waitForTimeout(200);
      }
      // Read again after the loop: an error notification raised while its last answers arrived.
      errors = await errorsShown(page);
      sets = (await displaySets(page)) ?? [];
      const ok = framed();
      const result = {
        study: study.uid,
        description: study.description,
        ms: Date.now() - t0,
        errors,
        failures: failures.slice(failuresBefore),
        series: study.series.map((x) => {
          const mineSets = sets.filter((d) => d.series === x.uid);
          return {
            uid: x.uid,
            sopClasses: x.sopClasses,
            pixels: x.pixels,
            cannotShow: x.cannotShow
              ?? (mineSets.length && mineSets.every((d) => d.unsupported) ? `OHIF has no handler for SOP class ${x.sopClasses}` : null),
            ohif: mineSets.map((d) => d.handler + (d.unsupported ? ' (unsupported)' : '')),
            frame200: ok.has(x.uid),
          };
        }),
      };
      results.push(result);
      const explained = result.series.filter((x) => x.cannotShow);
      const missing = result.series.filter((x) => x.ohif.some((h) => h === 'stack') && !x.cannotShow && !x.frame200);
      // Errors and 404 frames are expected only where OHIF cannot show a series anyway.
      const unexplained = [
        ...errors.filter(() => !explained.length).map((e) => `error shown: ${e}`),
        // (any study's: a late answer to the previous page's request lands in this study's time)
        ...result.failures.filter((f) => !(f.startsWith('404 ') && noPixelData.some((uid) => f.includes(`/series/${uid}/`)))),
        ...missing.map((x) => `series ${x.uid} (${x.sopClasses}) got no frame answered 200`),
        ...(sets.length ? [] : ['OHIF made no display set']),
      ];
      result.problems = unexplained;
      if (unexplained.length || explained.length) {
        await page.screenshot({ path: path.join(artifacts, `corpus-${study.uid}.png`) });
      }
      step(`${unexplained.length ? 'FAIL' : 'ok  '} ${study.uid} "${study.description}": `
        + result.series.map((x) => `${x.ohif.join('+') || 'none'}${x.frame200 ? ' framed' : ''}${x.cannotShow ? ` [cannot show: ${x.cannotShow}]` : ''}`).join(', ')
        + `; ${result.ms} ms${unexplained.length ? `; ${unexplained.join(' | ')}` : ''}`);
    }
  } finally {
    fs.writeFileSync(path.join(artifacts, 'corpus-studies.json'), JSON.stringify(results, null, 2));
    fs.writeFileSync(path.join(artifacts, 'corpus-requests.json'), JSON.stringify(requests, null, 2));
    fs.writeFileSync(path.join(artifacts, 'corpus-page-errors.txt'), errorsOfPage.join('\n'));
    await browser.close();
  }

  const noPixels = new Map();
  for (const s of studies) for (const x of s.series) if (!x.pixels) for (const c of x.sopClasses) noPixels.set(c, (noPixels.get(c) ?? 0) + 1);
  step(`series without pixel data (no frames asked): ${[...noPixels].map(([c, n]) => `${c} x${n}`).join(', ')}`);
  const problems = results.flatMap((r) => r.problems.map((p) => `${r.study}: ${p}`));
  const explained = results.flatMap((r) => r.series.filter((x) => x.cannotShow).map((x) => `${r.study} ${x.uid}: ${x.cannotShow}`));
  step(`series OHIF cannot show (documented reasons):\n  ${explained.join('\n  ')}`);
  assert.deepEqual(problems, [], `studies OHIF did not show:\n${problems.join('\n')}`);
  const showable = results.flatMap((r) => r.series.filter((x) => x.ohif.includes('stack') && !x.cannotShow));
  step(`${results.length} studies with images opened; ${showable.length} image series OHIF can show, each got frames; ok`);
}

await run('ohif-corpus', main);
