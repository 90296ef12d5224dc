/**
 * "Edit and replay": the captured request as a form (method, path, headers as `name: value` lines, body, and the
 * workload to send it as); Send resends it through that workload's outbound sidecar with only the changes
 * (buildReplay) and, on success, the detail pane opens the new flow.
 */
import { useEffect, useMemo, useState } from 'react';
import type { FlowRecord } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import type { ErrorInfo } from '../lib/errors.js';
import { bodyEditable, bodyTruncated, buildReplay, formFor, type ReplayForm } from '../lib/replay.js';
import { Modal } from './Modal.js';
import { ErrorText } from './ui.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

export function ReplayDialog({ flow, onClose }: { flow: FlowRecord; onClose: () => void }) {
  const workloads = useMesh((s) => s.workloads);
  const replay = useMesh((s) => s.replay);
  const replayFlow = useMesh((s) => s.replayFlow);
  const clearReplayError = useMesh((s) => s.clearReplayError);
  const [form, setForm] = useState<ReplayForm>(() => formFor(flow));
  const [formError, setFormError] = useState<ErrorInfo | null>(null);
  const editable = bodyEditable(flow);
  const truncated = bodyTruncated(flow);
  const callers = useMemo(() => workloads.filter((w) => w.sidecar && w.outbound).map((w) => w.name), [workloads]);
  const sending = replay.sending && replay.forId === flow.id;
  const error = formError ?? (replay.forId === flow.id ? replay.error : null);

  useEffect(() => {
    clearReplayError();
  }, [clearReplayError]);

  const update = (patch: Partial<ReplayForm>): void => {
    setForm((f) => ({ ...f, ...patch }));
    setFormError(null);
  };

  const send = async (): Promise<void> => {
    const built = buildReplay(flow, form);
    if (!built.ok) {
      setFormError({ code: 'LM201', message: built.message });
      return;
    }
    const result = await replayFlow(built.request);
    if (result) onClose();
  };

  const asOptions = [...callers];
  if (form.as !== '' && !asOptions.includes(form.as)) asOptions.unshift(form.as);

  return (
    <Modal
      testId="replay-dialog"
      className="replay-dialog"
      titleId="replay-title"
      title="Edit and replay"
      intro={
        <>
          Resends request <code>{flow.id}</code> through the outbound sidecar of the workload below, so routing, faults,
          retries and policies apply as they do now. Only what you change is changed.
        </>
      }
      onCancel={() => {
        if (!sending) onClose();
      }}
      onSubmit={() => void send()}
      footer={
        <>
          <span className="dialog-foot-note">
            <ErrorText error={error} testId="replay-error" />
          </span>
          <button type="button" className="btn" data-testid="replay-cancel" onClick={onClose} disabled={sending}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="replay-send" disabled={sending}>
            {sending ? 'Sending…' : 'Send'}
          </button>
        </>
      }
    >
      <div className="field-row">
        <label className="field replay-method">
          <span className="field-label">Method</span>
          <input
            data-testid="replay-method"
            list="replay-methods"
            value={form.method}
            onChange={(e) => update({ method: e.target.value })}
            autoComplete="off"
            spellCheck={false}
          />
          <datalist id="replay-methods">
            {METHODS.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </label>
        <label className="field replay-path">
          <span className="field-label">Path (with query)</span>
          <input
            data-testid="replay-path"
            value={form.path}
            onChange={(e) => update({ path: e.target.value })}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
      </div>
      <label className="field">
        <span className="field-label">Send as</span>
        <select data-testid="replay-as" value={form.as} onChange={(e) => update({ as: e.target.value })}>
          {flow.source === null && <option value="">no sidecar (as the original caller)</option>}
          {asOptions.map((w) => (
            <option key={w} value={w}>
              {w}
              {w === flow.source ? ' (the original caller)' : ''}
            </option>
          ))}
        </select>
        <span className="field-hint">The request leaves through this workload’s outbound sidecar.</span>
      </label>
      <label className="field">
        <span className="field-label">Headers</span>
        <textarea
          data-testid="replay-headers"
          className="code-input"
          rows={Math.min(12, Math.max(4, form.headers.split('\n').length + 1))}
          value={form.headers}
          onChange={(e) => update({ headers: e.target.value })}
          spellCheck={false}
          aria-describedby="replay-headers-hint"
        />
        <span className="field-hint" id="replay-headers-hint">
          One <code>name: value</code> per line. Delete a line to drop the header; the sidecar sets the tracing and
          routing headers of the new request itself.
        </span>
      </label>
      <label className="field">
        <span className="field-label">Body</span>
        <textarea
          data-testid="replay-body"
          className="code-input"
          rows={6}
          value={form.body}
          onChange={(e) => update({ body: e.target.value })}
          spellCheck={false}
          disabled={!editable}
          placeholder={editable ? 'No body' : undefined}
        />
        {!editable && (
          <span className="field-hint txt-warn">
            {truncated
              ? 'The captured body is binary and the sidecar kept only part of it: it cannot be replayed.'
              : 'The captured body is binary: it is resent unchanged.'}
          </span>
        )}
        {editable && truncated && (
          <span className="field-hint txt-warn" data-testid="replay-body-truncated">
            The sidecar kept only the first {flow.requestBody!.data.length.toLocaleString()} of{' '}
            {flow.requestBody!.size.toLocaleString()} bytes: complete the body, it is sent as written here.
          </span>
        )}
      </label>
    </Modal>
  );
}
