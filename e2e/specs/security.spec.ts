import fs from 'node:fs';
import path from 'node:path';
import { BOOKINFO_WORKLOADS, expect, test } from '../fixtures.js';

/** Where the "Require mTLS" quick action writes the PeerAuthentication for ratings-v1 (the mesh's istio folder). */
const RATINGS_PA = 'istio/peer-authentication-ratings-v1.yaml';
/** How long the row may take to show the new mode: save → file watcher → reload → security view refetch. */
const MODE_TIMEOUT_MS = 15_000;

test.describe('Security', () => {
  test('shows the mesh CA, every workload PERMISSIVE, and the access matrix', async ({ app, security }) => {
    await security.open();

    await security.expectCaFingerprint();
    await security.expectWorkloads(BOOKINFO_WORKLOADS);
    for (const name of BOOKINFO_WORKLOADS) await security.expectMode(name, 'PERMISSIVE');
    await security.expectCell('productpage-v1', 'reviews-v1', true);
    await app.expectNoError();
  });

  test('the matrix from the keyboard: Enter selects a cell, Escape clears it and the focus stays on the cell', async ({
    page,
    security
  }) => {
    await security.open();
    const cell = security.cell('productpage-v1', 'reviews-v1');
    await expect(cell).toBeVisible();
    await cell.focus();
    await page.keyboard.press('Enter');
    await expect(security.selectedCells).toHaveCount(1);
    await expect(cell).toHaveAttribute('aria-pressed', 'true');
    await expect(security.cellDetail).toContainText('productpage-v1');

    // Esc left the cell selected and its reason shown
    await page.keyboard.press('Escape');
    await expect(security.selectedCells).toHaveCount(0);
    await expect(security.cellDetail).toContainText('Select a cell');
    await expect(cell).toBeFocused();
  });

  test('sets STRICT from the UI', async ({ security, mesh }) => {
    // PERMISSIVE: a caller without a sidecar may talk plaintext straight to the inbound sidecar
    const before = await mesh.plainRequest('ratings-v1', '/ratings/0');
    expect(before, 'plaintext to ratings-v1 under PERMISSIVE').toMatchObject({ refused: false, status: 200 });

    await security.open();
    await security.expectMode('ratings-v1', 'PERMISSIVE');
    const dialog = await security.requireStrict('ratings-v1');
    await dialog.expectDiffContains('PeerAuthentication', 'STRICT');
    await dialog.save();
    await security.expectMode('ratings-v1', 'STRICT', { timeout: MODE_TIMEOUT_MS });

    // STRICT: the same plaintext request is closed without an HTTP response …
    const after = await mesh.plainRequest('ratings-v1', '/ratings/0');
    expect(after, 'plaintext to ratings-v1 under STRICT').toEqual({ refused: true });
    // … while sidecar-to-sidecar calls (mutual TLS) still work
    const viaMesh = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0');
    expect(viaMesh.status, viaMesh.body).toBe(200);

    // the change is real Istio YAML in the project's istio folder
    const file = path.join(mesh.meshDir, RATINGS_PA);
    expect(fs.existsSync(file), `${RATINGS_PA} was written`).toBe(true);
    const yaml = fs.readFileSync(file, 'utf8');
    expect(yaml).toMatch(/^kind: PeerAuthentication$/m);
    expect(yaml).toMatch(/^\s+mode: STRICT$/m);
  });
});
