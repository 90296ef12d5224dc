/**
 * Rules: the project's Istio files and resources, a YAML editor with live validation, save (write + reload, with
 * the reload's verdict) and quick actions that show their YAML change as a diff first.
 */
import { useEffect, useMemo, useRef } from 'react';
import type { ValidationIssue } from '../../../main/contract/api.js';
import { Modal } from '../components/Modal.js';
import { Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { YamlEditor, type YamlEditorHandle } from '../components/YamlEditor.js';
import { issueInFile } from '../editor/diagnostics.js';
import { useMesh } from '../hooks.js';
import { formatClock } from '../lib/format.js';
import { resourcesByKind } from '../lib/istio.js';
import type { QuickKind } from '../lib/quick.js';
import { selectDirty } from '../store/selectors.js';

const NO_ISSUES: ValidationIssue[] = [];

export function RulesView() {
  const files = useMesh((s) => s.files);
  const filesStatus = useMesh((s) => s.filesStatus);
  const filesError = useMesh((s) => s.filesError);
  const editor = useMesh((s) => s.editor);
  const drafts = useMesh((s) => s.drafts);
  const openFile = useMesh((s) => s.openFile);
  const openFileAt = useMesh((s) => s.openFileAt);
  const loadFiles = useMesh((s) => s.loadFiles);
  const config = useMesh((s) => s.config);

  // Open the first file when the view starts, so the editor is never an empty box.
  useEffect(() => {
    if (!editor && files.length > 0) void openFile(files[0]!.path);
  }, [editor, files, openFile]);

  const byKind = useMemo(() => resourcesByKind(files), [files]);
  const byDir = useMemo(() => {
    const groups = new Map<string, typeof files>();
    for (const f of files) {
      const dir = f.relative.includes('/') ? f.relative.slice(0, f.relative.lastIndexOf('/')) : '';
      groups.set(dir, [...(groups.get(dir) ?? []), f]);
    }
    return [...groups.entries()];
  }, [files]);

  return (
    <section className="page page-split rules" aria-labelledby="rules-title">
      <aside className="side" aria-label="Istio files">
        <div className="side-head">
          <h1 id="rules-title">Rules</h1>
          {config && config.istioPaths.length > 0 && (
            <p className="txt-faint side-sub" title={config.istioPaths.join('\n')}>
              {config.istioPaths.length} Istio path{config.istioPaths.length === 1 ? '' : 's'} · watched for edits
            </p>
          )}
        </div>
        <h2 className="side-title">Files</h2>
        {filesStatus === 'loading' && files.length === 0 && <Loading label="Loading files…" />}
        {filesStatus === 'error' && (
          <div className="inline-error">
            <ErrorText error={filesError} />
            <button type="button" className="btn btn-small" onClick={() => void loadFiles()}>
              Retry
            </button>
          </div>
        )}
        {filesStatus === 'ready' && files.length === 0 && (
          <p className="txt-muted side-note">
            No Istio files yet. List a folder under <code>spec.istio</code> in <code>localmesh.yaml</code>, or use a
            quick action: it creates the file for you.
          </p>
        )}
        {byDir.map(([dir, list]) => (
          <div key={dir} className="dir-group">
            {dir !== '' && <div className="dir-name txt-faint">{dir}/</div>}
            <ul className="file-list">
              {list.map((f) => (
                <li key={f.path}>
                  <button
                    type="button"
                    className="file-item"
                    data-testid="rules-file"
                    data-path={f.relative}
                    aria-current={editor?.path === f.path ? 'true' : undefined}
                    onClick={() => void openFile(f.path)}
                    title={f.path}
                  >
                    <span className="file-name">{baseName(f.relative)}</span>
                    {(drafts[f.path] !== undefined || (editor?.path === f.path && editor.text !== editor.saved)) && (
                      <span className="dirty" data-testid="rules-file-dirty" title="Unsaved changes">
                        ●
                      </span>
                    )}
                    <span
                      className="file-count txt-faint"
                      title={`${f.resources.length} resource${f.resources.length === 1 ? '' : 's'}`}
                    >
                      {f.resources.length}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </div>
        ))}
        {byKind.length > 0 && <h2 className="side-title">Resources</h2>}
        {byKind.map((group) => (
          <div key={group.kind} className="kind-group">
            <h3 className="kind-title">{group.kind}</h3>
            <ul className="resource-list">
              {group.rows.map((r) => (
                <li key={`${r.file}:${r.line}`}>
                  <button
                    type="button"
                    className="resource-item"
                    data-testid="rules-resource"
                    data-kind={r.kind}
                    data-name={r.name}
                    title={`${r.kind} ${r.namespace}/${r.name} — ${r.relative}:${r.line}`}
                    onClick={() => void openFileAt(r.file, r.line)}
                  >
                    <span className="resource-host">{r.hosts.length > 0 ? r.hosts.join(', ') : r.name}</span>
                    {r.hosts.length > 0 && r.hosts.join(', ') !== r.name && (
                      <span className="txt-faint resource-name">{r.name}</span>
                    )}
                  </button>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </aside>
      <EditorPane />
    </section>
  );
}

function EditorPane() {
  const editor = useMesh((s) => s.editor);
  const dirty = useMesh(selectDirty);
  const liveIssues = useMesh((s) => s.liveIssues);
  const validating = useMesh((s) => s.validating);
  const validateError = useMesh((s) => s.validateError);
  const saving = useMesh((s) => s.saving);
  const saveError = useMesh((s) => s.saveError);
  const setText = useMesh((s) => s.setEditorText);
  const save = useMesh((s) => s.saveFile);
  const openQuick = useMesh((s) => s.openQuickAction);
  const reopen = useMesh((s) => s.openFile);
  const files = useMesh((s) => s.files);
  const ref = useRef<YamlEditorHandle>(null);

  const fileIssues = useMemo(
    () => (editor && liveIssues ? liveIssues.filter((i) => issueInFile(i, editor.path, editor.relative)) : NO_ISSUES),
    [editor, liveIssues]
  );
  const otherIssues = useMemo(
    () => (editor && liveIssues ? liveIssues.filter((i) => !issueInFile(i, editor.path, editor.relative)) : NO_ISSUES),
    [editor, liveIssues]
  );

  const reveal = useMesh((s) => s.reveal);
  const revealed = useRef(0);
  useEffect(() => {
    if (reveal && reveal.seq !== revealed.current && editor?.status === 'ready' && editor.path === reveal.path) {
      revealed.current = reveal.seq;
      ref.current?.goTo(reveal.line);
    }
  }, [reveal, editor?.status, editor?.path]);

  // The service the open file is about (first host of its first resource), to pre-fill quick actions.
  const fileService = files
    .find((f) => f.path === editor?.path)
    ?.resources.find((r) => r.hosts.length > 0)
    ?.hosts[0]?.split('.')[0];
  const quick = (kind: QuickKind): void => openQuick(kind, fileService);

  if (!editor) {
    return (
      <div className="editor-pane">
        <QuickBar onQuick={quick} />
        <Empty title="Pick a file" icon={Icons.rules()}>
          <p>
            Choose an Istio file on the left to edit it. Changes are validated as you type and applied when you save.
          </p>
        </Empty>
      </div>
    );
  }

  const errors = fileIssues.filter((i) => i.severity === 'error').length;
  return (
    <div
      className="editor-pane"
      onKeyDown={(e) => {
        if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
          e.preventDefault();
          void save();
        }
      }}
    >
      <div className="editor-toolbar">
        <div className="editor-file">
          <code className="editor-path" title={editor.path}>
            {baseName(editor.relative)}
          </code>
          {dirty && (
            <span className="dirty" data-testid="rules-dirty" title="Unsaved changes">
              ● unsaved
            </span>
          )}
        </div>
        <button
          type="button"
          className="btn btn-primary"
          data-testid="rules-save"
          disabled={saving || editor.status !== 'ready'}
          onClick={() => void save()}
          title="Save and reload (Ctrl/Cmd+S)"
        >
          {saving ? 'Saving…' : 'Save'}
        </button>
        <QuickBar onQuick={quick} />
      </div>
      <SaveResult />
      <SaveConfirmDialog />
      <ErrorText error={saveError} testId="rules-save-error" className="bar-error" />
      {editor.status === 'loading' && <Loading label={`Opening ${editor.relative}…`} />}
      {editor.status === 'error' && (
        <div className="editor-error">
          <p>Could not open {editor.relative}.</p>
          <ErrorText error={editor.error} />
          <button type="button" className="btn btn-small" onClick={() => void reopen(editor.path)}>
            Try again
          </button>
        </div>
      )}
      <div className={`editor-wrap ${editor.status === 'ready' ? '' : 'hidden'}`}>
        <YamlEditor
          ref={ref}
          docKey={editor.path}
          value={editor.text}
          issues={fileIssues}
          onChange={setText}
          onSave={() => void save()}
        />
      </div>
      <div className={`issues ${editor.status === 'ready' ? '' : 'hidden'}`} aria-label="Problems">
        <div className="issues-head">
          <h2>Problems</h2>
          {/* the validation state lives here, not beside the file name, which it cut short at 1280 px */}
          <span className="validation-state txt-faint" data-testid="rules-validation" aria-live="polite">
            {validating
              ? 'checking…'
              : liveIssues === null
                ? ''
                : fileIssues.length === 0
                  ? '✓ none in this file'
                  : `${errors} error${errors === 1 ? '' : 's'}, ${fileIssues.length - errors} other`}
          </span>
          <ErrorText error={validateError} />
        </div>
        <ul className="issue-list">
          {[...fileIssues, ...otherIssues].map((i, k) => {
            const here = k < fileIssues.length;
            return (
              <li key={`${i.code}-${i.where.file}-${i.where.line}-${k}`}>
                <button
                  type="button"
                  className={`issue issue-${i.severity}`}
                  data-testid="rules-issue"
                  data-line={i.where.line}
                  data-code={i.code}
                  data-severity={i.severity}
                  onClick={() => here && ref.current?.goTo(i.where.line, i.where.column)}
                  disabled={!here}
                >
                  <span className={`sev sev-${i.severity}`}>{i.severity}</span>
                  <code className="issue-code">{i.code}</code>
                  <span className="issue-msg">
                    {i.message}
                    {(i.path || i.resource) && (
                      <span className="issue-path txt-faint">{[i.resource, i.path].filter(Boolean).join(' · ')}</span>
                    )}
                  </span>
                  <span className="issue-where txt-faint" title={i.where.file}>
                    {here ? 'line ' : `${i.where.file.split('/').pop()}:`}
                    {i.where.line}:{i.where.column}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      </div>
    </div>
  );
}

function QuickBar({ onQuick }: { onQuick: (kind: QuickKind) => void }) {
  const canQuick = useMesh((s) => s.workloads.length > 0);
  return (
    <div className="quick-bar" role="group" aria-label="Quick actions">
      <button
        type="button"
        className="btn"
        data-testid="rules-quick-fault"
        disabled={!canQuick}
        onClick={() => onQuick('fault')}
      >
        {Icons.bolt()} Inject fault
      </button>
      <button
        type="button"
        className="btn"
        data-testid="rules-quick-shift"
        disabled={!canQuick}
        onClick={() => onQuick('shift')}
      >
        {Icons.split()} Shift traffic
      </button>
      <button
        type="button"
        className="btn"
        data-testid="rules-quick-timeout"
        disabled={!canQuick}
        onClick={() => onQuick('timeout')}
      >
        {Icons.clock()} Timeout / retries
      </button>
    </div>
  );
}

function SaveResult() {
  const r = useMesh((s) => s.saveResult);
  if (!r) return null;
  return (
    <div
      className={`save-result ${r.ok ? 'save-ok' : 'save-rejected'}`}
      data-testid="rules-save-result"
      data-state={r.ok ? 'ok' : 'rejected'}
      role="status"
    >
      {r.ok ? (
        <>
          <strong>Saved and applied.</strong> Config v{r.version} is running (reloaded at {formatClock(r.at)}).
        </>
      ) : (
        <>
          <strong>Saved, but the reload was rejected:</strong> {r.error ?? 'see the problems below.'}
          {keepsRunning(r.error) ? '' : ` The mesh keeps running the last good config (v${r.version}).`}
        </>
      )}
    </div>
  );
}

/**
 * Save with errors asks first: the file would be written, but the engine rejects a config with errors and keeps the
 * last good one running. Cancel (or Esc) is the default; the focus goes back to Save (or the editor) either way.
 */
function SaveConfirmDialog() {
  const c = useMesh((s) => s.saveConfirm);
  const confirm = useMesh((s) => s.confirmSave);
  const cancel = useMesh((s) => s.cancelSave);
  if (!c) return null;
  const errors = `${c.errors} error${c.errors === 1 ? '' : 's'}`;
  const running = c.runningVersion === null ? 'the last good config' : `the last good config (v${c.runningVersion})`;
  return (
    <Modal
      testId="rules-save-confirm"
      className="confirm-dialog"
      titleId="rules-save-confirm-title"
      title={`Save ${baseName(c.relative)} with ${errors}?`}
      onCancel={cancel}
      footer={
        <>
          <button type="button" className="btn" data-testid="rules-save-cancel" onClick={cancel}>
            Cancel
          </button>
          <button
            type="button"
            className="btn btn-primary"
            data-testid="rules-save-anyway"
            onClick={() => void confirm()}
          >
            Save anyway
          </button>
        </>
      }
    >
      <p data-testid="rules-save-confirm-text">
        Validation shows {errors} in this config. The file will be written, but the mesh will reject the reload and the
        running config stays on {running} until the errors are fixed.
      </p>
    </Modal>
  );
}

function baseName(relative: string): string {
  return relative.slice(relative.lastIndexOf('/') + 1);
}

/** Does the engine's message already say that the last good config keeps running? */
function keepsRunning(error: string | undefined): boolean {
  return error !== undefined && /keeps running/i.test(error);
}
