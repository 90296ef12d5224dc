/**
 * Quick actions: a small form that describes an Istio edit; Preview asks the engine for the YAML it would write
 * (planQuickAction) and shows it as a diff; Save writes `plan.after` to `plan.path`. Nothing lives only in memory.
 */
import { useMemo } from 'react';
import { useMesh } from '../hooks.js';
import { subsetsFor } from '../lib/istio.js';
import { servicesOf, weightShares, type QuickKind } from '../lib/quick.js';
import { requiresMtls } from '../lib/security.js';
import { selectObservedCalls, UNKNOWN_CALLER } from '../store/selectors.js';
import { DiffView } from './DiffView.js';
import { Modal } from './Modal.js';
import { ErrorText, Loading } from './ui.js';

const TITLES: Record<QuickKind, string> = {
  fault: 'Inject a fault',
  shift: 'Shift traffic',
  timeout: 'Timeout and retries',
  'clear-fault': 'Remove a fault',
  'mtls-strict': 'Require mutual TLS (STRICT)'
};

const HELP: Record<QuickKind, string> = {
  fault:
    'Callers of the service get a delay and/or an error response from their own sidecar, as Istio fault injection does.',
  shift:
    'Split the service’s traffic between its subsets (from its DestinationRule). Weights are relative; the share each gets is shown.',
  timeout: 'How long the caller’s sidecar waits for the service, and how often it retries a failed attempt.',
  'clear-fault': 'Remove the fault blocks from the service’s VirtualService.',
  'mtls-strict':
    'Writes a PeerAuthentication with mode STRICT: the inbound sidecar then accepts only mutual-TLS connections from other sidecars, and closes plaintext connections (callers without a sidecar).'
};

export function QuickActionDialog() {
  const quick = useMesh((s) => s.quick)!;
  const workloads = useMesh((s) => s.workloads);
  const resources = useMesh((s) => s.config?.resources);
  const update = useMesh((s) => s.updateQuickDraft);
  const preview = useMesh((s) => s.previewQuick);
  const save = useMesh((s) => s.saveQuick);
  const close = useMesh((s) => s.closeQuickAction);
  const editorDirtyPath = useMesh((s) => (s.editor && s.editor.text !== s.editor.saved ? s.editor.path : null));
  const d = quick.draft;
  const services = useMemo(() => servicesOf(workloads), [workloads]);
  const subsets = useMemo(
    () => subsetsFor(resources ?? [], d.service, d.namespace),
    [resources, d.service, d.namespace]
  );
  const shares = weightShares(d.weights);
  const sidecarWorkloads = useMemo(() => workloads.filter((w) => w.sidecar), [workloads]);
  const target = workloads.find((w) => w.name === d.workload);
  const observed = useMesh(selectObservedCalls);
  const securityWorkloads = useMesh((s) => s.security?.workloads);
  const plaintextCallers = useMemo(() => {
    if (d.kind !== 'mtls-strict' || !target) return [];
    const inScope = new Set(
      d.scope === 'workload'
        ? [target.name]
        : workloads.filter((w) => w.namespace === target.namespace).map((w) => w.name)
    );
    // Workloads that already refuse plaintext: calls seen before that are no news.
    for (const w of securityWorkloads ?? []) if (requiresMtls(w)) inScope.delete(w.workload);
    const seen = new Set<string>();
    for (const o of observed.values())
      if (o.plaintext > 0 && inScope.has(o.to))
        seen.add(`${o.from === UNKNOWN_CALLER ? 'no sidecar' : o.from} → ${o.to}`);
    return [...seen];
  }, [d.kind, d.scope, target, workloads, observed, securityWorkloads]);

  const busy = quick.planning || quick.saving;
  const num = (
    field: 'delayMs' | 'abortStatus' | 'percentage' | 'timeoutMs' | 'retries',
    label: string,
    testId: string,
    props: { min?: number; max?: number; placeholder?: string; hint?: string }
  ) => (
    <label className="field">
      <span className="field-label">{label}</span>
      <input
        type="number"
        inputMode="numeric"
        data-testid={testId}
        value={d[field]}
        min={props.min}
        max={props.max}
        placeholder={props.placeholder}
        onChange={(e) => update({ [field]: e.target.value })}
      />
      {props.hint && <span className="field-hint">{props.hint}</span>}
    </label>
  );

  return (
    <Modal
      testId="quick-action-dialog"
      titleId="qa-title"
      title={TITLES[d.kind]}
      intro={HELP[d.kind]}
      onCancel={close}
      onSubmit={() => {
        if (quick.plan) void save();
        else void preview();
      }}
      footer={
        <>
          <span className="txt-muted dialog-foot-note">
            {quick.plan
              ? 'Review the change, then save it to the file.'
              : 'Preview shows the YAML change before anything is written.'}
          </span>
          <button type="button" className="btn" data-testid="qa-cancel" onClick={close}>
            Cancel
          </button>
          <button
            type="button"
            className={`btn ${quick.plan ? '' : 'btn-primary'}`}
            data-testid="qa-preview"
            disabled={busy}
            onClick={() => void preview()}
          >
            {quick.plan ? 'Preview again' : 'Preview change'}
          </button>
          <button type="submit" className="btn btn-primary" data-testid="qa-save" disabled={!quick.plan || busy}>
            {quick.saving ? 'Saving…' : 'Save'}
          </button>
        </>
      }
    >
      <div className="field-row">
        <label className="field">
          <span className="field-label">Action</span>
          <select data-testid="qa-kind" value={d.kind} onChange={(e) => update({ kind: e.target.value as QuickKind })}>
            <option value="fault">Inject a fault</option>
            <option value="shift">Shift traffic</option>
            <option value="timeout">Timeout / retries</option>
            <option value="clear-fault">Remove fault</option>
            <option value="mtls-strict">Require mTLS (STRICT)</option>
          </select>
        </label>
        {d.kind === 'mtls-strict' ? (
          <label className="field">
            <span className="field-label">Workload</span>
            <select data-testid="qa-workload" value={d.workload} onChange={(e) => update({ workload: e.target.value })}>
              {d.workload !== '' && !sidecarWorkloads.some((w) => w.name === d.workload) && (
                <option value={d.workload}>{d.workload}</option>
              )}
              {sidecarWorkloads.map((w) => (
                <option key={w.name} value={w.name}>
                  {w.name}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <label className="field">
            <span className="field-label">Service</span>
            <select data-testid="qa-service" value={d.service} onChange={(e) => update({ service: e.target.value })}>
              {services.map((s) => (
                <option key={`${s.namespace}/${s.name}`} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>

      {d.kind === 'mtls-strict' && (
        <>
          <fieldset className="fieldset scope-choice" data-testid="qa-scope">
            <legend>Applies to</legend>
            <label className="radio">
              <input
                type="radio"
                name="qa-scope"
                value="workload"
                data-testid="qa-scope-workload"
                checked={d.scope === 'workload'}
                onChange={() => update({ scope: 'workload' })}
              />
              <span>
                Only <strong>{d.workload || 'the workload'}</strong>
                <span className="txt-muted small"> (a selector on its labels)</span>
              </span>
            </label>
            <label className="radio">
              <input
                type="radio"
                name="qa-scope"
                value="namespace"
                data-testid="qa-scope-namespace"
                checked={d.scope === 'namespace'}
                onChange={() => update({ scope: 'namespace' })}
              />
              <span>
                Every workload in namespace <strong>{target?.namespace ?? d.namespace}</strong>
              </span>
            </label>
          </fieldset>
          {plaintextCallers.length > 0 && (
            <p className="note small" data-testid="qa-plaintext-warning">
              Plaintext calls were seen recently ({plaintextCallers.slice(0, 4).join(', ')}
              {plaintextCallers.length > 4 ? `, +${plaintextCallers.length - 4} more` : ''}). Once this is saved they
              are refused: give those callers a sidecar, or keep PERMISSIVE.
            </p>
          )}
        </>
      )}

      {d.kind === 'fault' && (
        <>
          <div className="field-row">
            {num('delayMs', 'Delay (ms)', 'qa-delay-ms', {
              min: 1,
              placeholder: 'none',
              hint: 'Leave empty for no delay.'
            })}
            {num('abortStatus', 'Abort with HTTP status', 'qa-abort-status', {
              min: 200,
              max: 599,
              placeholder: 'none',
              hint: 'Leave empty to only delay.'
            })}
            {num('percentage', 'Of requests (%)', 'qa-percentage', { min: 0, max: 100 })}
          </div>
          <label className="field">
            <span className="field-label">Only calls from</span>
            <select data-testid="qa-from" value={d.from} onChange={(e) => update({ from: e.target.value })}>
              <option value="">every caller</option>
              {workloads
                .filter((w) => w.sidecar)
                .map((w) => (
                  <option key={w.name} value={w.name}>
                    {w.name}
                  </option>
                ))}
            </select>
            <span className="field-hint">One caller = a fault on one edge of the graph (a sourceLabels match).</span>
          </label>
          <fieldset className="field-row fieldset">
            <legend>Only requests with this header (optional)</legend>
            <label className="field">
              <span className="field-label">Header name</span>
              <input
                data-testid="qa-header-name"
                value={d.headerName}
                placeholder="end-user"
                onChange={(e) => update({ headerName: e.target.value })}
              />
            </label>
            <label className="field">
              <span className="field-label">Exact value</span>
              <input
                data-testid="qa-header-value"
                value={d.headerValue}
                placeholder="jason"
                onChange={(e) => update({ headerValue: e.target.value })}
              />
            </label>
          </fieldset>
        </>
      )}

      {d.kind === 'shift' &&
        (subsets.length === 0 ? (
          <p className="note">
            <strong>{d.service}</strong> has no subsets. Add a DestinationRule for it with <code>subsets</code> (one per
            version label), then come back.
          </p>
        ) : (
          <div className="weights">
            {subsets.map((name) => (
              <label key={name} className="weight">
                <span className="weight-name">{name}</span>
                <input
                  type="range"
                  min={0}
                  max={100}
                  step={1}
                  data-testid={`qa-weight-${name}`}
                  value={d.weights[name] ?? 0}
                  aria-valuetext={`${shares[name] ?? 0}% of traffic`}
                  onChange={(e) => update({ weights: { ...d.weights, [name]: Number(e.target.value) } })}
                />
                <span className="weight-share">{shares[name] ?? 0}%</span>
              </label>
            ))}
          </div>
        ))}

      {d.kind === 'timeout' && (
        <div className="field-row">
          {num('timeoutMs', 'Route timeout (ms)', 'qa-timeout-ms', {
            min: 0,
            placeholder: 'none',
            hint: 'Empty or 0 removes the timeout.'
          })}
          {num('retries', 'Retry attempts', 'qa-retries', {
            min: 0,
            max: 20,
            placeholder: 'default',
            hint: 'Extra attempts after a failure (Istio’s default is 2).'
          })}
        </div>
      )}

      <ErrorText error={quick.error} testId="qa-error" />
      {quick.planning && <Loading label="Computing the change…" />}
      {quick.plan && (
        <div className="plan">
          <p className="plan-summary">{quick.plan.summary}</p>
          <DiffView testId="qa-diff" before={quick.plan.before} after={quick.plan.after} path={quick.plan.relative} />
          {editorDirtyPath === quick.plan.path && (
            <p className="note small">
              You have unsaved edits to this file in the Rules editor. Saving here writes the file shown above; your
              edits stay in the editor, unsaved.
            </p>
          )}
        </div>
      )}
    </Modal>
  );
}
