// What the browser tests check on OHIF's page, shared by the ohif-*.test.mjs files: the study
// list's count, whether the viewport shows an image, and clicking away first-visit overlays.

/**
 * Mean and standard deviation of the grey level of a PNG, computed by the browser itself
 * (createImageBitmap + canvas), over the central half of the picture: the corners hold OHIF's
 * text overlays, which are there even when no image is.
 */
export async function centreStats(page, png) {
  return page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const x0 = Math.floor(bitmap.width / 4), y0 = Math.floor(bitmap.height / 4);
    const { data } = context.getImageData(x0, y0, Math.floor(bitmap.width / 2), Math.floor(bitmap.height / 2));
    let sum = 0, sumSq = 0, n = 0;
    const levels = new Set();
    for (let i = 0; i < data.length; i += 4) {
      const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += grey; sumSq += grey * grey; n++;
      levels.add(Math.round(grey));
    }
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)), levels: levels.size, pixels: n };
  }, png.toString('base64'));
}

export function looksLikeAnImage(stats) {
  // A blank (black or uniform) viewport has std ~0 and a handful of levels; CT_small has
  // a std of about 50 grey levels and well over 100 levels once windowed.
  return stats.std > 20 && stats.levels > 64;
}

/** Clicks away OHIF's first-visit overlays (tour, "investigational use" banner) when they show. */
export async function dismissOverlays(page) {
  for (const name of ['Skip all', 'Confirm and hide']) {
    const button = page.getByRole('button', { name }).or(page.getByText(name, { exact: true })).first();
    if (await button.isVisible().catch(() => false)) {
      await button.click().catch(() => {});
    }
  }
}


/**
 * Waits for OHIF's first viewport to show an image: polls screenshots of it (clicking overlays
 * away) for up to 90 s. Returns the viewport and the centre's last statistics; the caller asserts
 * with looksLikeAnImage, so its message can name what it knows.
 */
export async function waitForViewportImage(page) {
  const viewport = page.locator('.viewport-element').first();
  await viewport.waitFor({ timeout: 60_000 });
  let stats = null;
  for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
    await dismissOverlays(page);
    stats = await centreStats(page, await viewport.screenshot());
    if (looksLikeAnImage(stats)) break;
    await page.waitForTimeout(500);
  }
  return { viewport, stats };
}

/**
 * Opens OHIF's study list at `url` and waits up to 60 s for its header to say it lists `total`
 * studies (OHIF 3.13: "1-50 of 53", its pages hold 50 rows); clicks the overlays away. Returns
 * that header's locator: the caller asserts it is visible, with what it knows in the message.
 */
export async function openStudyList(page, url, total) {
  await page.goto(url, { waitUntil: 'load' });
  const count = page.getByText(new RegExp(`^1-\\d+ of ${total}$`)).first();
  await count.waitFor({ timeout: 60_000 }).catch(() => {});
  await dismissOverlays(page);
  return count;
}
