/**
 * Bottom bar: connection, config version, the Istio release followed (when not the newest), last reload, and how many
 * requests the engine's store holds.
 */
import { useMesh } from '../hooks.js';
import { flowCountLabel, formatClock } from '../lib/format.js';
import { selectStoredCount } from '../store/selectors.js';

export function StatusBar() {
  const connection = useMesh((s) => s.connection);
  const config = useMesh((s) => s.config);
  const loaded = useMesh((s) => s.flows.length);
  const stored = useMesh(selectStoredCount);
  const paused = useMesh((s) => s.paused);
  const workloads = useMesh((s) => s.workloads);
  const running = workloads.reduce((n, w) => n + w.processes.filter((p) => p.state === 'running').length, 0);
  const total = workloads.reduce((n, w) => n + w.processes.length, 0);
  const count = flowCountLabel(stored, loaded);
  const reload = config?.lastReload;
  const errors = config?.issues.filter((i) => i.severity === 'error').length ?? 0;
  const warnings = config?.issues.filter((i) => i.severity === 'warning').length ?? 0;

  return (
    <footer className="status-bar" data-testid="status-bar">
      <span className={`status-item conn conn-${connection}`} data-testid="status-connection" data-state={connection}>
        <span className="dot" aria-hidden="true" />
        {connection}
      </span>
      <span className="status-item" title={config ? `Mesh file: ${config.meshFile}` : undefined}>
        <span>
          config v<span data-testid="status-config-version">{config?.version ?? '–'}</span>
        </span>
      </span>
      {config && !config.capture && (
        <span
          className="status-item capture-off"
          data-testid="status-capture-off"
          title="spec.capture.enabled: false in the mesh file: requests are routed and counted in metrics, but no flow is recorded"
        >
          capture off
        </span>
      )}
      {config?.compatibilityVersion && (
        <span
          className="status-item"
          data-testid="status-compat"
          title="spec.compatibilityVersion: the sidecars keep this Istio release's defaults (README: The mesh file)"
        >
          Istio {config.compatibilityVersion} behaviour
        </span>
      )}
      {reload && (
        <span
          className={`status-item reload ${reload.ok ? 'reload-ok' : 'reload-rejected'}`}
          data-testid="status-reload"
          data-state={reload.ok ? 'ok' : 'rejected'}
          title={
            reload.ok
              ? `Reloaded at ${formatClock(reload.at)}`
              : `${reload.error ?? ''} The mesh keeps running the last good config.`
          }
        >
          {reload.ok ? 'last reload ok' : 'last reload rejected'}
          {!reload.ok && reload.error ? `: ${reload.error}` : ''}
        </span>
      )}
      {(errors > 0 || warnings > 0) && (
        <span className="status-item" title="Problems in the mesh file and Istio files (see Rules)">
          {errors > 0 && (
            <span className="txt-err">
              {errors} error{errors === 1 ? '' : 's'}
            </span>
          )}
          {errors > 0 && warnings > 0 && ' · '}
          {warnings > 0 && (
            <span className="txt-warn">
              {warnings} warning{warnings === 1 ? '' : 's'}
            </span>
          )}
        </span>
      )}
      <span className="status-spacer" />
      {total > 0 && (
        <span
          className="status-item"
          data-testid="status-processes"
          title={connection === 'connected' ? undefined : 'As last seen: the engine does not answer now'}
        >
          {connection === 'connected'
            ? `${running}/${total} processes running`
            : `${running}/${total} processes running when last seen`}
        </span>
      )}
      <span
        className="status-item"
        data-testid="status-flow-count"
        data-count={stored ?? loaded}
        data-source={stored === null ? 'window' : 'store'}
        title={count.title}
      >
        {count.text}
        {paused ? ' · list paused' : ''}
      </span>
    </footer>
  );
}
