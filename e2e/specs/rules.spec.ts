import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from '../fixtures.js';

const FILE = 'istio/virtual-service-ratings.yaml';

test.describe('Rules', () => {
  test('an invalid VirtualService is marked on its line, rejected on save, and the old rules keep serving', async ({
    app,
    rules,
    mesh
  }) => {
    // the last `subset: v1` of the ratings VirtualService (the "everyone-else" route)
    const original = fs.readFileSync(path.join(mesh.meshDir, FILE), 'utf8').split('\n');
    const broken = original.findLastIndex((l) => l.trim() === 'subset: v1') + 1;
    expect(broken).toBeGreaterThan(0);

    await rules.open();
    await rules.openFile(FILE, 'everyone-else');

    await rules.replaceLine(broken, 'weight: "fifty"');
    await rules.expectDirty(true);
    await rules.expectIssueOnLine(broken, 'error');

    // Save with errors asks first, in a modal that says how many and what keeps running
    const errors = await rules.issues.and(rules.page.locator('[data-severity="error"]')).count();
    expect(errors).toBeGreaterThan(0);
    await rules.saveExpectingConfirm();
    await expect(rules.saveConfirm).toContainText(`${errors} error${errors === 1 ? '' : 's'}`);
    await expect(rules.saveConfirm).toContainText('last good config (v1)');
    // keyboard: the focus starts on Cancel; Esc cancels, nothing is written, the focus is back on Save
    await expect(rules.saveCancelButton).toBeFocused();
    await rules.page.keyboard.press('Escape');
    await expect(rules.saveConfirm).toHaveCount(0);
    await expect(rules.saveButton).toBeFocused();
    expect(fs.readFileSync(path.join(mesh.meshDir, FILE), 'utf8')).toBe(original.join('\n'));
    await rules.expectDirty(true);
    await expect(rules.saveResult).toHaveCount(0);

    // Ctrl+S in the editor asks too; Cancel gives the focus back to the editor
    await rules.line(broken).click();
    await rules.page.keyboard.press('ControlOrMeta+s');
    await expect(rules.saveConfirm).toBeVisible();
    await rules.saveCancelButton.click();
    await expect(rules.saveConfirm).toHaveCount(0);
    await expect(rules.content).toBeFocused();

    // Save anyway (Tab from Cancel, Enter): written, and the mesh rejects the reload
    await rules.saveExpectingConfirm();
    await rules.page.keyboard.press('Tab');
    await expect(rules.saveAnywayButton).toBeFocused();
    await rules.page.keyboard.press('Enter');
    await expect(rules.saveConfirm).toHaveCount(0);
    await expect(rules.saveResult).toBeVisible();
    await rules.expectSaveRejected();
    await app.expectConfigVersion(1);
    expect(fs.readFileSync(path.join(mesh.meshDir, FILE), 'utf8')).toContain('weight: "fifty"');

    // the mesh still routes ratings by the last good rules
    const r = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0');
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ id: 0, ratings: { Reviewer1: 5 } });
  });

  test('the focused editor has the focus ring; file names are whole at 1280, in the header and in the list', async ({
    rules,
    mesh,
    page
  }) => {
    // a long name, as the "Require mTLS" quick action writes them
    const long = 'istio/peer-authentication-ratings-v1.yaml';
    fs.writeFileSync(
      path.join(mesh.meshDir, long),
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ratings-v1\n  namespace: default\n' +
        'spec:\n  selector:\n    matchLabels:\n      app: ratings\n  mtls:\n    mode: PERMISSIVE\n'
    );
    await rules.open();
    await expect(rules.file(long)).toBeVisible();
    await rules.openFile('istio/virtual-service-reviews.yaml', 'VirtualService');
    await expect(rules.editorPath).toHaveAttribute('title', /virtual-service-reviews\.yaml$/);

    // into the editor from the keyboard: the ring says where the focus is (CodeMirror's was outline: none)
    await page.getByTestId('rules-quick-timeout').focus();
    await page.keyboard.press('Tab');
    await expect(rules.content).toBeFocused();
    const ring = await rules.editorOutline();
    expect(ring).toEqual({ style: 'solid', width: '2px', color: ring.accent, accent: ring.accent });

    // edited (● unsaved beside the name): no name is cut ("virtual-service-reviews.…")
    await page.keyboard.press('Control+Home');
    await page.keyboard.insertText('# edited\n');
    await rules.expectDirty(true);
    await expect(rules.problemsHead).toContainText('none in this file');
    expect(await rules.cutFileNames()).toEqual([]);
    // the validation state is told in the Problems bar, where it leaves the name its room
    await expect(rules.validationState).toHaveText('✓ none in this file');
  });

  test('warnings alone do not ask: Save writes the file and the reload applies', async ({ rules, mesh }) => {
    await rules.open();
    await rules.openFile('istio/destination-rule-all.yaml', 'DestinationRule');
    await expect(rules.page.locator('[data-testid="rules-issue"][data-severity="warning"]').first()).toBeVisible();
    await expect(rules.page.locator('[data-testid="rules-issue"][data-severity="error"]')).toHaveCount(0);
    await rules.line(1).click();
    await rules.page.keyboard.press('Home');
    await rules.page.keyboard.insertText('# reviewed\n');
    await rules.expectDirty(true);
    await rules.save();
    await expect(rules.saveConfirm).toHaveCount(0);
    await rules.expectSaveApplied();
    expect(fs.readFileSync(path.join(mesh.meshDir, 'istio/destination-rule-all.yaml'), 'utf8')).toMatch(
      /^# reviewed\napiVersion:/
    );
  });

  test('compatibilityVersion saved in localmesh.yaml applies live and the status bar names the release', async ({
    app,
    mesh
  }) => {
    await app.expectConfigVersion(1);
    await expect(app.page.getByTestId('status-compat')).toHaveCount(0);
    const text = fs.readFileSync(mesh.meshFile, 'utf8');
    expect(text).toMatch(/^spec:$/m);
    fs.writeFileSync(mesh.meshFile, text.replace(/^spec:$/m, 'spec:\n  compatibilityVersion: "1.23"'));
    await app.expectConfigVersion(2);
    await expect(app.page.getByTestId('status-compat')).toHaveText('Istio 1.23 behaviour');
  });

  test('capture switched off in localmesh.yaml: the status bar, the empty traffic list and Record say so, requests still go through', async ({
    app,
    traffic,
    mesh
  }) => {
    await app.expectConfigVersion(1);
    await expect(app.page.getByTestId('status-capture-off')).toHaveCount(0);
    const text = fs.readFileSync(mesh.meshFile, 'utf8');
    expect(text).not.toMatch(/^\s+capture:/m);
    fs.writeFileSync(mesh.meshFile, text.replace(/^spec:$/m, 'spec:\n  capture: {enabled: false}'));
    await app.expectConfigVersion(2);
    await expect(app.page.getByTestId('status-capture-off')).toHaveText('capture off');
    await traffic.open();
    await expect(traffic.empty).toContainText('Capture is off');
    // a recording would hold nothing: Record is off too, and says why
    const record = app.page.getByTestId('session-record-start');
    await expect(record).toBeDisabled();
    await expect(record).toHaveAttribute('title', /Capture is off/);
    const r = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0');
    expect(r.status, r.body).toBe(200);
  });
});
