/**
 * The Traffic filters: free text (path, header, body; searched by the engine), destination service, caller,
 * status class and Envoy flag, plus chips for filters set from elsewhere (a workload, a session). Every change is a
 * new server-side query (the slice debounces the text).
 */
import type { ReactNode } from 'react';
import { useMesh } from '../hooks.js';
import { UNKNOWN_CALLER, type StatusFilter } from '../lib/flow-query.js';
import { sessionTitle } from '../lib/sessions.js';
import {
  selectFilteredFlows,
  selectFiltersActive,
  selectFilterSession,
  selectFlagOptions,
  selectServiceGroups
} from '../store/selectors.js';
import { Icons } from './ui.js';

export function FlowQueryBar() {
  const filters = useMesh((s) => s.filters);
  const setFilter = useMesh((s) => s.setFilter);
  const resetFilters = useMesh((s) => s.resetFilters);
  const groups = useMesh(selectServiceGroups);
  const workloads = useMesh((s) => s.workloads);
  const flagOptions = useMesh(selectFlagOptions);
  const session = useMesh(selectFilterSession);
  const active = useMesh(selectFiltersActive);
  const shown = useMesh((s) => selectFilteredFlows(s).length);
  const total = useMesh((s) => s.trafficFlows.length);
  const hasOlder = useMesh((s) => s.hasOlder);
  const listStatus = useMesh((s) => s.listStatus);
  const paused = useMesh((s) => s.paused);
  const missed = useMesh((s) => s.missed);

  const services = groups.map((g) => g.name);
  if (filters.service !== '' && !services.includes(filters.service)) services.push(filters.service);
  const callers = workloads.filter((w) => w.sidecar).map((w) => w.name);
  if (filters.caller !== '' && filters.caller !== UNKNOWN_CALLER && !callers.includes(filters.caller))
    callers.push(filters.caller);
  const flags = [...flagOptions];
  if (!['', 'any', 'none'].includes(filters.flag) && !flags.includes(filters.flag)) flags.push(filters.flag);

  return (
    <div className="toolbar query-bar" role="toolbar" aria-label="Traffic filters">
      <label className="search">
        {Icons.search()}
        <input
          type="search"
          data-testid="traffic-filter-text"
          placeholder="Search path, headers, bodies…"
          aria-label="Search requests: path, header name or value, body"
          value={filters.text}
          onChange={(e) => setFilter({ text: e.target.value })}
        />
      </label>
      <select
        data-testid="traffic-filter-service"
        aria-label="Destination service"
        value={filters.service}
        title={filters.service === '' ? undefined : `to ${filters.service}`}
        onChange={(e) => setFilter({ service: e.target.value })}
      >
        <option value="">All services</option>
        {services.map((s) => (
          <option key={s} value={s}>
            to {s}
          </option>
        ))}
      </select>
      <select
        data-testid="traffic-filter-caller"
        aria-label="Calling workload"
        value={filters.caller}
        title={
          filters.caller === ''
            ? undefined
            : filters.caller === UNKNOWN_CALLER
              ? 'from a caller without sidecar (Istio\'s source_workload "unknown")'
              : `from ${filters.caller}`
        }
        onChange={(e) => setFilter({ caller: e.target.value })}
      >
        <option value="">Any caller</option>
        {callers.map((c) => (
          <option key={c} value={c}>
            from {c}
          </option>
        ))}
        {/* short enough for the select's 190 px; its title says it in full */}
        <option value={UNKNOWN_CALLER}>from no sidecar</option>
      </select>
      <select
        data-testid="traffic-filter-status"
        aria-label="Status class"
        value={filters.status}
        onChange={(e) => setFilter({ status: e.target.value as StatusFilter })}
      >
        <option value="">Any status</option>
        <option value="2xx">2xx</option>
        <option value="3xx">3xx</option>
        <option value="4xx">4xx</option>
        <option value="5xx">5xx</option>
        <option value="1xx">1xx</option>
        <option value="none">No response</option>
      </select>
      <select
        data-testid="traffic-filter-flag"
        aria-label="Envoy response flag"
        value={filters.flag}
        onChange={(e) => setFilter({ flag: e.target.value })}
      >
        <option value="">Any flags</option>
        <option value="any">With a flag</option>
        <option value="none">No flags</option>
        {flags.map((f) => (
          <option key={f} value={f}>
            {f}
          </option>
        ))}
      </select>
      {filters.workload !== '' && (
        <Chip testId="traffic-chip-workload" onRemove={() => setFilter({ workload: '' })} label="workload">
          {filters.workload}
        </Chip>
      )}
      {filters.session !== null && (
        <Chip testId="traffic-chip-session" onRemove={() => setFilter({ session: null })} label="session">
          {session ? sessionTitle(session) : `#${filters.session}`}
        </Chip>
      )}
      {active && (
        <button type="button" className="btn btn-small btn-ghost" data-testid="traffic-reset" onClick={resetFilters}>
          Reset
        </button>
      )}
      {/* "Updating…" lies in the spacer, which takes no room of its own: the bar keeps its lines while a query runs */}
      <span className="toolbar-spacer query-pending">
        {listStatus === 'loading' && total > 0 && (
          <span className="txt-faint small" data-testid="traffic-list-loading" role="status">
            Updating…
          </span>
        )}
      </span>
      <span
        className="count"
        data-testid="traffic-count"
        data-shown={shown}
        data-total={total}
        data-has-older={hasOlder ? 'true' : 'false'}
        aria-live="polite"
        title={hasOlder ? 'Older requests are in the store: scroll to the top to load them.' : undefined}
      >
        {shown.toLocaleString()}
        {hasOlder ? '+' : ''} request{shown === 1 && !hasOlder ? '' : 's'}
        {active ? ' matching' : ''}
        {paused && missed > 0 && <span className="txt-warn"> · {missed} not shown (paused)</span>}
      </span>
    </div>
  );
}

function Chip({
  testId,
  label,
  onRemove,
  children
}: {
  testId: string;
  label: string;
  onRemove: () => void;
  children: ReactNode;
}) {
  return (
    <span className="filter-chip" data-testid={testId}>
      <span className="txt-muted">{label}</span> <strong>{children}</strong>
      <button type="button" onClick={onRemove} aria-label={`Remove the ${label} filter`} title="Remove">
        {Icons.close()}
      </button>
    </span>
  );
}
