/**
 * Traffic: the live list of flows (virtualized), filters, pause/clear, keyboard navigation and the detail pane
 * with headers, bodies, attempts and the decision trace.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { FlowRecord, WorkloadView } from '../../../main/contract/api.js';
import { FlowDetailPane } from '../components/FlowDetail.js';
import { ConnIcon, Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useDebounced, useMesh } from '../hooks.js';
import { flagList, formatClock, formatDuration, shortService, statusClass } from '../lib/format.js';
import {
  selectFilteredFlows,
  selectFiltersActive,
  selectFlagOptions,
  selectServiceGroups
} from '../store/selectors.js';
import type { StatusFilter } from '../store/traffic-slice.js';

const ROW_HEIGHT = 30;

export function TrafficView() {
  const detailOpen = useMesh((s) => s.detail !== null);
  const closeDetail = useMesh((s) => s.closeDetail);
  return (
    <section
      className="page traffic"
      aria-label="Traffic"
      onKeyDown={(e) => {
        if (e.key === 'Escape' && detailOpen && !e.defaultPrevented) {
          e.preventDefault();
          closeDetail();
          document.querySelector<HTMLElement>('[data-testid="traffic-list"]')?.focus();
        }
      }}
    >
      <Toolbar />
      <div className={`traffic-body ${detailOpen ? 'with-detail' : ''}`}>
        <FlowList />
        {detailOpen && <FlowDetailPane />}
      </div>
    </section>
  );
}

function Toolbar() {
  const filters = useMesh((s) => s.filters);
  const setFilter = useMesh((s) => s.setFilter);
  const groups = useMesh(selectServiceGroups);
  const flagOptions = useMesh(selectFlagOptions);
  const paused = useMesh((s) => s.paused);
  const missed = useMesh((s) => s.missed);
  const setPaused = useMesh((s) => s.setPaused);
  const clear = useMesh((s) => s.clearFlows);
  const clearError = useMesh((s) => s.clearError);
  const total = useMesh((s) => s.flows.length);
  const shown = useMesh((s) => selectFilteredFlows(s).length);
  const active = useMesh(selectFiltersActive);
  const [text, setText] = useState(filters.text);
  const debounced = useDebounced(text, 150);
  useEffect(() => {
    if (debounced === text && debounced !== filters.text) setFilter({ text: debounced });
  }, [debounced, text, filters.text, setFilter]);
  useEffect(() => {
    // Reset from elsewhere (Reset filters): follow it.
    if (filters.text === '') setText('');
  }, [filters.text]);

  const services = groups.map((g) => g.name);
  if (filters.service !== '' && !services.includes(filters.service)) services.push(filters.service);
  const flags = [...flagOptions];
  if (!['', 'any', 'none'].includes(filters.flag) && !flags.includes(filters.flag)) flags.push(filters.flag);

  return (
    <div className="toolbar" role="toolbar" aria-label="Traffic filters">
      <label className="search">
        {Icons.search()}
        <input
          type="search"
          data-testid="traffic-filter-text"
          placeholder="Filter: path, status, workload, flag…"
          aria-label="Filter flows by text"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      <select
        data-testid="traffic-filter-service"
        aria-label="Destination service"
        value={filters.service}
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
      <span className="toolbar-spacer" />
      <span className="count" data-testid="traffic-count" data-shown={shown} data-total={total} aria-live="polite">
        {active ? `${shown.toLocaleString()} of ${total.toLocaleString()}` : `${total.toLocaleString()}`} request
        {(active ? total : shown) === 1 ? '' : 's'}
        {paused && missed > 0 && <span className="txt-warn"> · {missed} not shown (paused)</span>}
      </span>
      <button
        type="button"
        className={`btn ${paused ? 'btn-warn' : ''}`}
        data-testid="traffic-pause"
        aria-pressed={paused}
        onClick={() => setPaused(!paused)}
      >
        {paused ? Icons.play() : Icons.pause()} {paused ? 'Resume' : 'Pause'}
      </button>
      <button
        type="button"
        className="btn"
        data-testid="traffic-clear"
        onClick={() => void clear()}
        disabled={total === 0}
        title="Clear the captured flows (in the engine too)"
      >
        {Icons.trash()} Clear
      </button>
      {clearError && <ErrorText error={clearError} className="toolbar-error" />}
    </div>
  );
}

function FlowList() {
  const flows = useMesh(selectFilteredFlows);
  const total = useMesh((s) => s.flows.length);
  const status = useMesh((s) => s.flowsStatus);
  const error = useMesh((s) => s.flowsError);
  const loadFlows = useMesh((s) => s.loadFlows);
  const selectedId = useMesh((s) => s.selectedId);
  const selectFlow = useMesh((s) => s.selectFlow);
  const moveSelection = useMesh((s) => s.moveSelection);
  const openDetail = useMesh((s) => s.openDetail);
  const resetFilters = useMesh((s) => s.resetFilters);
  const workloads = useMesh((s) => s.workloads);
  const ready = useMesh((s) => s.ready);
  const byName = useMemo(() => new Map(workloads.map((w) => [w.name, w])), [workloads]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);

  const virtualizer = useVirtualizer({
    count: flows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (i) => flows[i]!.id
  });

  // Start at the newest flow when the list appears, then follow new flows while it stays scrolled to the end.
  const hasList = flows.length > 0;
  useLayoutEffect(() => {
    if (!hasList) return;
    atBottom.current = true;
    const raf = requestAnimationFrame(() => {
      const el = scrollRef.current;
      if (el && atBottom.current) el.scrollTop = el.scrollHeight;
    });
    return () => cancelAnimationFrame(raf);
  }, [hasList]);
  // While a request is open in the detail pane the list holds still, so the row being read does not scroll away.
  const detailOpen = useMesh((s) => s.detail !== null);
  useEffect(() => {
    if (atBottom.current && !detailOpen && flows.length > 0)
      virtualizer.scrollToIndex(flows.length - 1, { align: 'end' });
  }, [flows.length, virtualizer, detailOpen]);

  const selectedIndex = useMemo(
    () => (selectedId === null ? -1 : flows.findIndex((f) => f.id === selectedId)),
    [flows, selectedId]
  );
  useEffect(() => {
    if (selectedIndex >= 0) virtualizer.scrollToIndex(selectedIndex, { align: 'auto' });
  }, [selectedIndex, virtualizer]);

  if (total === 0) {
    if (status === 'loading') return <Loading label="Loading captured requests…" />;
    return (
      <div className="flow-list-wrap">
        {status === 'error' && (
          <div className="inline-error">
            <ErrorText error={error} />
            <button type="button" className="btn btn-small" onClick={() => void loadFlows()}>
              Retry
            </button>
          </div>
        )}
        {workloads.length === 0 && !ready ? (
          <Empty title="Waiting for the mesh" testId="traffic-empty" icon={Icons.traffic()}>
            <p>Requests appear here once the window is connected to the mesh engine.</p>
          </Empty>
        ) : (
          <TrafficEmpty workloads={workloads} />
        )}
      </div>
    );
  }

  const onKeyDown = (e: KeyboardEvent): void => {
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 300) / ROW_HEIGHT) - 1);
    const keys: Record<string, () => void> = {
      ArrowDown: () => moveSelection(1),
      ArrowUp: () => moveSelection(-1),
      PageDown: () => moveSelection(page),
      PageUp: () => moveSelection(-page),
      Home: () => moveSelection(-flows.length),
      End: () => moveSelection(flows.length),
      Enter: () => void openDetail()
    };
    const run = keys[e.key];
    if (run) {
      e.preventDefault();
      run();
    }
  };

  const items = virtualizer.getVirtualItems();
  return (
    <div className="flow-list-wrap">
      <div className="flow-head" aria-hidden="true">
        <span>Time</span>
        <span>Caller → service</span>
        <span>Reporter</span>
        <span>Method</span>
        <span>Path</span>
        <span className="num">Status</span>
        <span>Flags</span>
        <span className="num">Duration</span>
      </div>
      {flows.length === 0 ? (
        <div className="no-match" data-testid="traffic-no-match">
          <p>No requests match the filters.</p>
          <button type="button" className="btn btn-small" onClick={resetFilters}>
            Reset filters
          </button>
        </div>
      ) : (
        <div
          ref={scrollRef}
          className="flow-scroll"
          data-testid="traffic-list"
          tabIndex={0}
          role="listbox"
          aria-label="Captured requests (↑/↓ to move, Enter for details, Esc to close)"
          aria-activedescendant={selectedId !== null && selectedIndex >= 0 ? `flow-${selectedId}` : undefined}
          onKeyDown={onKeyDown}
          onScroll={(e) => {
            const el = e.currentTarget;
            atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 1.5;
          }}
        >
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((item) => {
              const f = flows[item.index]!;
              return (
                <FlowRow
                  key={item.key}
                  flow={f}
                  top={item.start}
                  selected={f.id === selectedId}
                  workloads={byName}
                  onClick={() => {
                    selectFlow(f.id);
                    void openDetail(f.id);
                    scrollRef.current?.focus({ preventScroll: true });
                  }}
                />
              );
            })}
          </div>
        </div>
      )}
    </div>
  );
}

function FlowRow({
  flow: f,
  top,
  selected,
  workloads,
  onClick
}: {
  flow: FlowRecord;
  top: number;
  selected: boolean;
  workloads: Map<string, WorkloadView>;
  onClick: () => void;
}) {
  const cls = statusClass(f.status);
  const flags = flagList(f.flags);
  const target = f.destination ?? shortService(f.destinationService) ?? f.authority;
  const svc = f.destination ? (workloads.get(f.destination)?.service ?? shortService(f.destinationService)) : null;
  return (
    <div
      id={`flow-${f.id}`}
      role="option"
      aria-selected={selected}
      className={`flow-row s-${cls} ${selected ? 'selected' : ''}`}
      style={{ transform: `translateY(${top}px)`, height: ROW_HEIGHT }}
      data-testid="flow-row"
      data-id={f.id}
      data-status={f.status}
      data-flags={f.flags}
      data-reporter={f.reporter}
      data-path={f.path}
      onClick={onClick}
    >
      <span className="c-time">{formatClock(f.startedAt)}</span>
      <span
        className="c-route"
        title={`${f.source ?? 'unknown caller'} → ${f.destination ?? f.destinationService ?? f.authority}${connText(f)}`}
      >
        <ConnIcon security={f.connectionSecurity} testId="flow-conn" />
        <span className={f.source ? '' : 'txt-faint'}>{f.source ?? 'unknown'}</span>
        <span className="arrow"> → </span>
        <span className={f.destination ? '' : 'txt-muted'}>{target}</span>
        {svc && svc !== target && !target.startsWith(svc) && <span className="txt-faint"> ({svc})</span>}
      </span>
      <span
        className={`c-reporter rep-${f.reporter}`}
        title={
          f.reporter === 'source'
            ? "Reported by the caller's sidecar (outbound)"
            : "Reported by the server's sidecar (inbound)"
        }
      >
        {f.reporter}
      </span>
      <span className="c-method">{f.method}</span>
      <span className="c-path" title={`${f.authority}${f.path}`}>
        {f.path}
      </span>
      <span className={`c-status num st-${cls}`}>{f.status === 0 ? '—' : f.status}</span>
      <span className="c-flags">
        {flags.map((fl) => (
          <span key={fl} className="flag">
            {fl}
          </span>
        ))}
      </span>
      <span className="c-dur num">{formatDuration(f.durationMs)}</span>
    </div>
  );
}

function connText(f: FlowRecord): string {
  if (f.connectionSecurity === 'mutual_tls') return ' (mutual TLS)';
  if (f.connectionSecurity === 'none') return ' (plaintext)';
  return '';
}

/** First-run help: how to send a request through a sidecar, with the real ports of this mesh. */
function TrafficEmpty({ workloads }: { workloads: WorkloadView[] }) {
  const caller =
    workloads.find((w) => w.outbound && Object.keys(w.upstreams).length > 0) ?? workloads.find((w) => w.outbound);
  const dest = caller
    ? (Object.keys(caller.upstreams).find((s) => s !== caller.service) ?? Object.keys(caller.upstreams)[0])
    : undefined;
  const up = caller && dest ? caller.upstreams[dest] : undefined;
  const inbound = workloads.flatMap((w) => w.instances.map((i) => ({ w, i }))).find((x) => x.i.inbound);
  return (
    <Empty title="No requests yet" testId="traffic-empty" icon={Icons.traffic()}>
      <p>Requests show up here as soon as they pass a sidecar. Send one through a sidecar:</p>
      {caller?.outbound && (
        <>
          <p className="txt-muted">
            as <strong>{caller.name}</strong>, through its outbound sidecar (the HTTP proxy its app uses):
          </p>
          <pre className="cmd">{`curl -x http://${caller.outbound.host}:${caller.outbound.port} http://${dest ?? '<service>'}:${workloads.find((w) => w.service === dest)?.servicePort ?? '<port>'}/`}</pre>
        </>
      )}
      {up && (
        <>
          <p className="txt-muted">
            or through the port dedicated to <strong>{dest}</strong> (what{' '}
            <code>{dest!.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL</code> points at):
          </p>
          <pre className="cmd">{`curl http://${up.host}:${up.port}/`}</pre>
        </>
      )}
      {inbound?.i.inbound && (
        <>
          <p className="txt-muted">
            or straight into <strong>{inbound.w.name}</strong> through its inbound sidecar:
          </p>
          <pre className="cmd">{`curl http://${inbound.i.inbound.host}:${inbound.i.inbound.port}/`}</pre>
        </>
      )}
      {!caller && !inbound && (
        <p className="txt-muted">This mesh has no sidecars yet: give a workload a sidecar in localmesh.yaml.</p>
      )}
    </Empty>
  );
}
