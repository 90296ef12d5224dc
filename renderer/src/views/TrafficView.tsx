/**
 * Traffic: the captured requests from the engine's store (history survives restarts), filtered by server-side
 * queries, in start order, with live requests put in as they match — a request in flight at once, as a pending row
 * its finished flow replaces; "load older" pages back. Capture sessions (record, select,
 * compare, delete), HAR export/import, replay, flow comparison, and the detail pane with its trace waterfall.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
  type MouseEvent,
  type RefObject
} from 'react';
import type { FlowRecord, WorkloadView } from '../../../main/contract/api.js';
import { FlowCompareDialog, SessionCompareDialog } from '../components/CompareView.js';
import { FlowDetailPane } from '../components/FlowDetail.js';
import { Elapsed, PendingDetailPane } from '../components/PendingDetail.js';
import { FlowQueryBar } from '../components/FlowQueryBar.js';
import { SessionsPanel } from '../components/SessionsPanel.js';
import { CaptureIcons } from '../components/capture-icons.js';
import { ConnIcon, Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useMesh } from '../hooks.js';
import { downloadText } from '../lib/download.js';
import { flagList, formatClock, formatDuration, shortService, startedTitle, statusClass } from '../lib/format.js';
import { harText } from '../lib/har.js';
import { isPending } from '../lib/live-flows.js';
import { activeRecording, sessionTitle } from '../lib/sessions.js';
import { selectCaptureOff, selectFilteredFlows, selectFiltersActive, selectFilterSession } from '../store/selectors.js';
import { MAX_FLOWS } from '../store/traffic-slice.js';

const ROW_HEIGHT = 30;

/**
 * Widths behind the Sessions panel's two modes: docked beside the list while the list keeps LIST_MIN_W with the
 * detail pane open too, else (a narrower window) a drawer over the list's left edge, so the list is never squeezed
 * below a usable width. The panel's and the detail's widths are those of styles.css (.traffic-main.with-sessions,
 * .traffic-body.with-detail).
 */
const SESSIONS_W = 272;
const DETAIL_MIN_W = 380;
const LIST_MIN_W = 400;
export const SESSIONS_DOCK_MIN_W = SESSIONS_W + LIST_MIN_W + DETAIL_MIN_W;

/** The border-box width of an element, kept up to date as it resizes (0 before the first layout). */
function useWidth(ref: RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.getBoundingClientRect().width);
    const ro = new ResizeObserver(() => setWidth(el.getBoundingClientRect().width));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return width;
}

export function TrafficView() {
  const detailOpen = useMesh((s) => s.detail !== null);
  // a request still in flight has no flow to fetch yet: its pane shows what its start told
  const pendingOpen = useMesh((s) =>
    s.detail !== null && s.detail.flow === null ? (s.pendingFlows.find((p) => p.id === s.detail!.id) ?? null) : null
  );
  const closeDetail = useMesh((s) => s.closeDetail);
  const sessionsOpen = useMesh((s) => s.sessionsOpen);
  const toggleSessions = useMesh((s) => s.toggleSessions);
  const compareOpen = useMesh((s) => s.compare.open);
  const sessionCompareOpen = useMesh((s) => s.sessionCompare.open);
  const loadSessions = useMesh((s) => s.loadSessions);
  const connected = useMesh((s) => s.connection === 'connected');
  const mainRef = useRef<HTMLDivElement>(null);
  const mainWidth = useWidth(mainRef);
  // Too narrow for the panel, a usable list and the detail side by side: the panel is a drawer over the list.
  const drawer = mainWidth > 0 && mainWidth < SESSIONS_DOCK_MIN_W;
  const drawerOpen = drawer && sessionsOpen;
  useEffect(() => {
    // The toolbar shows the recording state and the session names: load them with the view (and after a reconnect).
    if (connected) void loadSessions();
  }, [connected, loadSessions]);
  const closeSessions = useCallback((): void => {
    toggleSessions(false);
    document.querySelector<HTMLElement>('[data-testid="traffic-sessions-toggle"]')?.focus();
  }, [toggleSessions]);
  return (
    <section
      className="page traffic"
      aria-label="Traffic"
      onKeyDown={(e) => {
        if (e.key !== 'Escape' || e.defaultPrevented) return;
        // the drawer over the list goes first, then the detail pane
        if (drawerOpen) {
          e.preventDefault();
          closeSessions();
        } else if (detailOpen) {
          e.preventDefault();
          closeDetail();
          document.querySelector<HTMLElement>('[data-testid="traffic-list"]')?.focus();
        }
      }}
    >
      <CaptureBar />
      <FlowQueryBar />
      <div
        ref={mainRef}
        className={`traffic-main ${sessionsOpen && !drawer ? 'with-sessions' : ''} ${drawerOpen ? 'with-drawer' : ''}`}
        data-sessions-mode={drawer ? 'drawer' : 'docked'}
      >
        {sessionsOpen &&
          (drawer ? <SessionsDrawer onClose={closeSessions} /> : <SessionsPanel onClose={closeSessions} />)}
        <div className={`traffic-body ${detailOpen ? 'with-detail' : ''}`} inert={drawerOpen}>
          <FlowList />
          {detailOpen && (pendingOpen ? <PendingDetailPane flow={pendingOpen} /> : <FlowDetailPane />)}
        </div>
      </div>
      {compareOpen && <FlowCompareDialog />}
      {sessionCompareOpen && <SessionCompareDialog />}
    </section>
  );
}

/**
 * The Sessions panel as a drawer over the list (a narrow window): it takes the focus when it opens; Esc (wherever the
 * focus is), its close button, the Sessions toggle or a click beside it close it, and the focus goes back to the
 * toggle. The list and the
 * detail under it are inert meanwhile, so Tab stays in the drawer and the toolbars above.
 */
function SessionsDrawer({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    // the panel itself: Tab goes on to its buttons
    ref.current?.querySelector<HTMLElement>('[data-testid="sessions-panel"]')?.focus();
  }, []);
  useEffect(() => {
    // Esc with the focus outside the Traffic view (the nav, the page): the view's own handler has not seen it
    const onKey = (e: globalThis.KeyboardEvent): void => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      e.preventDefault();
      onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <>
      <div className="sessions-drawer" ref={ref}>
        <SessionsPanel drawer onClose={onClose} />
      </div>
      <div className="sessions-scrim" data-testid="sessions-scrim" aria-hidden="true" onClick={onClose} />
    </>
  );
}

/** Sessions, recording, compare, HAR, pause and clear. */
function CaptureBar() {
  const sessionsOpen = useMesh((s) => s.sessionsOpen);
  const toggleSessions = useMesh((s) => s.toggleSessions);
  const scope = useMesh(selectFilterSession);
  const scopeId = useMesh((s) => s.filters.session);
  const sessions = useMesh((s) => s.sessions);
  const op = useMesh((s) => s.sessionOp);
  const startRecording = useMesh((s) => s.startRecording);
  const stopRecording = useMesh((s) => s.stopRecording);
  const compareIds = useMesh((s) => s.compare.ids);
  const compareMarked = useMesh((s) => s.compareMarked);
  const clearMarks = useMesh((s) => s.clearCompareMarks);
  const har = useMesh((s) => s.har);
  const exportHar = useMesh((s) => s.exportHar);
  const importHar = useMesh((s) => s.importHar);
  const clearHarError = useMesh((s) => s.clearHarError);
  const paused = useMesh((s) => s.paused);
  const setPaused = useMesh((s) => s.setPaused);
  const clear = useMesh((s) => s.clearFlows);
  const clearError = useMesh((s) => s.clearError);
  const total = useMesh((s) => s.trafficFlows.length + s.flows.length);
  // Nothing for Export HAR: the filters' query found no request, and none is older or held back by Pause
  const nothingToExport = useMesh(
    (s) => s.listStatus !== 'error' && s.trafficFlows.length === 0 && !s.hasOlder && s.missed === 0
  );
  const captureOff = useMesh(selectCaptureOff);
  const [labeling, setLabeling] = useState(false);
  const [label, setLabel] = useState('');
  const fileRef = useRef<HTMLInputElement>(null);
  const barRef = useRef<HTMLDivElement>(null);
  const recording = activeRecording(sessions);
  // The control a keyboard user lands on when the one they used goes away (Start → Stop → Record, Cancel →
  // Record); without it the focus fell to the page. Moved once it is on screen, unless the user went elsewhere.
  const [focusTo, setFocusTo] = useState<string | null>(null);
  useEffect(() => {
    const bar = barRef.current;
    if (focusTo === null || !bar) return;
    const el = bar.querySelector<HTMLElement>(`[data-testid="${focusTo}"]`);
    if (!el) return;
    const active = document.activeElement;
    if (active === null || active === document.body || bar.contains(active)) el.focus();
    setFocusTo(null);
  });

  const start = async (): Promise<void> => {
    const view = await startRecording(label);
    if (view) {
      setLabeling(false);
      setLabel('');
      setFocusTo('session-record-stop');
    }
  };

  const cancelLabel = (): void => {
    setLabeling(false);
    setFocusTo('session-record-start');
  };

  const onExport = async (): Promise<void> => {
    const out = await exportHar();
    if (out) downloadText(out.fileName, harText(out.har));
  };

  const onImport = async (file: File | undefined): Promise<void> => {
    if (!file) return;
    let text: string;
    try {
      text = await file.text();
    } catch {
      text = '';
    }
    await importHar(text, file.name);
  };

  return (
    <div className="toolbar capture-bar" role="toolbar" aria-label="Capture" ref={barRef}>
      <button
        type="button"
        className={`btn ${sessionsOpen ? 'btn-pressed' : ''}`}
        data-testid="traffic-sessions-toggle"
        aria-expanded={sessionsOpen}
        aria-pressed={sessionsOpen}
        onClick={() => toggleSessions()}
        title="Capture sessions"
      >
        {CaptureIcons.sessions()} Sessions
        <span className="scope" data-testid="traffic-scope">
          {scopeId === null ? 'all' : scope ? sessionTitle(scope) : `#${scopeId}`}
        </span>
      </button>
      {recording ? (
        <span className="rec" data-testid="traffic-recording" data-session={recording.id}>
          <span className="rec-dot" aria-hidden="true" />
          Recording <strong>{sessionTitle(recording)}</strong>
          <button
            type="button"
            className="btn btn-small"
            data-testid="session-record-stop"
            disabled={op.pending === 'stop'}
            onClick={() =>
              void stopRecording().then((ended) => {
                if (ended) setFocusTo('session-record-start');
              })
            }
          >
            {CaptureIcons.stop()} {op.pending === 'stop' ? 'Stopping…' : 'Stop'}
          </button>
        </span>
      ) : labeling ? (
        <form
          className="rec-form"
          onSubmit={(e) => {
            e.preventDefault();
            void start();
          }}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.stopPropagation();
              cancelLabel();
            }
          }}
        >
          <input
            data-testid="session-label-input"
            aria-label="Label of the recording (optional)"
            placeholder="Label (optional), e.g. checkout bug"
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            autoFocus
            maxLength={120}
          />
          <button
            type="submit"
            className="btn btn-small btn-primary"
            data-testid="session-record-confirm"
            disabled={op.pending === 'start'}
          >
            {CaptureIcons.record()} {op.pending === 'start' ? 'Starting…' : 'Start'}
          </button>
          <button type="button" className="btn btn-small" data-testid="session-record-cancel" onClick={cancelLabel}>
            Cancel
          </button>
        </form>
      ) : (
        <button
          type="button"
          className="btn"
          data-testid="session-record-start"
          onClick={() => setLabeling(true)}
          disabled={captureOff}
          title={
            captureOff
              ? 'Capture is off (the mesh file sets capture: {enabled: false}): a recording would hold no request'
              : 'Record the next requests into a new, labelled session'
          }
        >
          <span className="rec-icon">{CaptureIcons.record()}</span> Record
        </button>
      )}
      <span className="toolbar-spacer" />
      {compareIds.length > 0 && (
        <span className="compare-marks" data-testid="traffic-compare-marks" data-count={compareIds.length}>
          <button
            type="button"
            className="btn btn-small"
            data-testid="traffic-compare"
            disabled={compareIds.length !== 2}
            onClick={() => void compareMarked()}
            title={compareIds.length === 2 ? 'Compare the marked requests' : 'Mark a second request (M or Ctrl+click)'}
          >
            {CaptureIcons.compare()} {compareIds.length === 2 ? 'Compare A ↔ B' : 'A marked: mark B'}
          </button>
          <button
            type="button"
            className="btn btn-small btn-ghost"
            data-testid="traffic-compare-clear"
            onClick={clearMarks}
            aria-label="Unmark the requests marked for comparison"
            title="Unmark"
          >
            {Icons.close()}
          </button>
        </span>
      )}
      <input
        ref={fileRef}
        type="file"
        accept=".har,.json,application/json"
        className="sr-only"
        tabIndex={-1}
        aria-hidden="true"
        data-testid="traffic-import-input"
        onChange={(e) => {
          const file = e.target.files?.[0];
          void onImport(file).finally(() => {
            if (fileRef.current) fileRef.current.value = '';
          });
        }}
      />
      <button
        type="button"
        className="btn"
        data-testid="traffic-import-har"
        onClick={() => fileRef.current?.click()}
        disabled={har.op !== 'idle'}
        title="Import a HAR file as a new read-only session"
      >
        {CaptureIcons.upload()} {har.op === 'importing' ? 'Importing…' : 'Import HAR'}
      </button>
      <button
        type="button"
        className="btn"
        data-testid="traffic-export-har"
        onClick={() => void onExport()}
        disabled={har.op !== 'idle' || nothingToExport}
        title={
          nothingToExport
            ? total === 0
              ? 'No requests to export yet'
              : 'No requests match the filters: nothing to export'
            : scopeId === null
              ? 'Save the requests matching the filters as a HAR file'
              : 'Save the requests of this session (and filters) as a HAR file'
        }
      >
        {CaptureIcons.download()} {har.op === 'exporting' ? 'Exporting…' : 'Export HAR'}
      </button>
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
        onClick={() =>
          void clear().then((cleared) => {
            // Clear disables itself: the focus goes to its neighbour rather than to the page
            if (cleared) setFocusTo('traffic-pause');
          })
        }
        disabled={total === 0}
        title={
          total === 0
            ? 'No requests to clear'
            : "Clear the captured requests and ended sessions, in the engine's store too (Graph and Metrics history is drawn from them); imported HAR sessions stay"
        }
      >
        {Icons.trash()} Clear
      </button>
      {har.error && (
        <div className="toolbar-error toolbar-error-row">
          <ErrorText error={har.error} testId="traffic-har-error" />
          <button type="button" className="btn btn-small btn-ghost" onClick={clearHarError} aria-label="Dismiss">
            {Icons.close()}
          </button>
        </div>
      )}
      {op.error && (op.id === null || !sessionsOpen) && (
        <ErrorText error={op.error} testId="traffic-session-error" className="toolbar-error" />
      )}
      {clearError && <ErrorText error={clearError} className="toolbar-error" />}
    </div>
  );
}

function FlowList() {
  const flows = useMesh(selectFilteredFlows);
  const status = useMesh((s) => s.listStatus);
  const error = useMesh((s) => s.listError);
  const reloadList = useMesh((s) => s.reloadList);
  const hasOlder = useMesh((s) => s.hasOlder);
  const olderStatus = useMesh((s) => s.olderStatus);
  const olderError = useMesh((s) => s.olderError);
  const loadOlder = useMesh((s) => s.loadOlder);
  const listed = useMesh((s) => s.trafficFlows.length);
  const filters = useMesh((s) => s.filters);
  const active = useMesh(selectFiltersActive);
  const scope = useMesh(selectFilterSession);
  const selectedId = useMesh((s) => s.selectedId);
  const selectFlow = useMesh((s) => s.selectFlow);
  const moveSelection = useMesh((s) => s.moveSelection);
  const openDetail = useMesh((s) => s.openDetail);
  const resetFilters = useMesh((s) => s.resetFilters);
  const setFilter = useMesh((s) => s.setFilter);
  const markForCompare = useMesh((s) => s.markForCompare);
  const compareIds = useMesh((s) => s.compare.ids);
  const workloads = useMesh((s) => s.workloads);
  const ready = useMesh((s) => s.ready);
  const byName = useMemo(() => new Map(workloads.map((w) => [w.name, w])), [workloads]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const firstId = useRef<string | null>(null);

  const virtualizer = useVirtualizer({
    count: flows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (i) => flows[i]!.id
  });

  // Start at the newest flow when the list appears (and when the filters change), then follow new flows while it
  // stays scrolled to the end.
  const hasList = flows.length > 0;
  useLayoutEffect(() => {
    if (!hasList) return;
    atBottom.current = true;
    const raf = requestAnimationFrame(() => {
      const el = scrollRef.current;
      if (el && atBottom.current) el.scrollTop = el.scrollHeight;
    });
    return () => cancelAnimationFrame(raf);
  }, [hasList, filters]);
  // Older flows were put in front: keep the rows the user was looking at where they were.
  useLayoutEffect(() => {
    const prev = firstId.current;
    firstId.current = flows[0]?.id ?? null;
    if (prev === null || flows[0]?.id === prev) return;
    const k = flows.findIndex((f) => f.id === prev);
    const el = scrollRef.current;
    if (k > 0 && el && !atBottom.current) el.scrollTop += k * ROW_HEIGHT;
  }, [flows]);
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

  const olderBar = (hasOlder || olderStatus === 'error') && (
    <div className="older-bar" data-testid="traffic-older">
      {olderStatus === 'error' ? (
        <>
          <ErrorText error={olderError} testId="traffic-older-error" />
          <button type="button" className="btn btn-small" onClick={() => void loadOlder()}>
            Retry
          </button>
        </>
      ) : listed >= MAX_FLOWS ? (
        <span className="txt-muted small">
          Showing the newest {MAX_FLOWS.toLocaleString()} matching requests: narrow the filters, or export HAR for all
          of them.
        </span>
      ) : (
        <button
          type="button"
          className="btn btn-small btn-ghost"
          data-testid="traffic-load-older"
          disabled={olderStatus === 'loading'}
          onClick={() => void loadOlder()}
        >
          {CaptureIcons.up()} {olderStatus === 'loading' ? 'Loading older requests…' : 'Load older requests'}
        </button>
      )}
    </div>
  );

  if (flows.length === 0) {
    if (status === 'loading' || status === 'idle') return <Loading label="Loading captured requests…" />;
    return (
      <div className="flow-list-wrap">
        {status === 'error' && (
          <div className="inline-error">
            <ErrorText error={error} testId="traffic-list-error" />
            <button type="button" className="btn btn-small" onClick={() => void reloadList()}>
              Retry
            </button>
          </div>
        )}
        {olderBar}
        {active ? (
          <div className="no-match" data-testid="traffic-no-match">
            {filters.session !== null &&
            Object.values({ ...filters, session: null }).every((v) => v === '' || v === null) ? (
              <>
                <p>
                  No requests in {scope ? <strong>{sessionTitle(scope)}</strong> : 'this session'}
                  {scope?.current ? ' yet: they show up as soon as they pass a sidecar.' : '.'}
                </p>
                <button type="button" className="btn btn-small" onClick={() => setFilter({ session: null })}>
                  Show all sessions
                </button>
              </>
            ) : (
              <>
                <p>No requests match the filters.</p>
                <button type="button" className="btn btn-small" onClick={resetFilters}>
                  Reset filters
                </button>
              </>
            )}
          </div>
        ) : workloads.length === 0 && !ready ? (
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
    const atTop = selectedIndex <= 0;
    const keys: Record<string, () => void> = {
      ArrowDown: () => moveSelection(1),
      ArrowUp: () => {
        if (atTop && hasOlder) void loadOlder();
        moveSelection(-1);
      },
      PageDown: () => moveSelection(page),
      PageUp: () => {
        if (selectedIndex - page <= 0 && hasOlder) void loadOlder();
        moveSelection(-page);
      },
      Home: () => {
        if (hasOlder) void loadOlder();
        moveSelection(-flows.length);
      },
      End: () => moveSelection(flows.length),
      Enter: () => void openDetail(),
      m: () => {
        if (selectedId !== null) markForCompare(selectedId);
      }
    };
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const run = keys[e.key === 'M' ? 'm' : e.key];
    if (run) {
      e.preventDefault();
      run();
    }
  };

  const items = virtualizer.getVirtualItems();
  return (
    <div className="flow-list-wrap">
      {status === 'error' && (
        <div className="inline-error">
          <ErrorText error={error} testId="traffic-list-error" />
          <button type="button" className="btn btn-small" onClick={() => void reloadList()}>
            Retry
          </button>
        </div>
      )}
      <div className="flow-head" aria-hidden="true">
        <span title="When each request started (the list is in start order; a request in flight shows at once, pending)">
          Started
        </span>
        <HeadLabel full="Caller → service" short="From → to" />
        <span>Reporter</span>
        <HeadLabel full="Method" short="Verb" />
        <span>Path</span>
        <HeadLabel full="Status" short="Code" num />
        <span>Flags</span>
        <span className="num">Duration</span>
      </div>
      {olderBar}
      <div
        ref={scrollRef}
        className="flow-scroll"
        data-testid="traffic-list"
        tabIndex={0}
        role="listbox"
        aria-label="Captured requests (↑/↓ to move, Enter for details, M to mark for comparison, Esc to close)"
        aria-activedescendant={selectedId !== null && selectedIndex >= 0 ? `flow-${selectedId}` : undefined}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 1.5;
          if (el.scrollTop < ROW_HEIGHT * 2 && !atBottom.current && hasOlder && olderStatus !== 'loading')
            void loadOlder();
        }}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((item) => {
            const f = flows[item.index]!;
            const mark = compareIds.indexOf(f.id);
            return (
              <FlowRow
                key={item.key}
                flow={f}
                top={item.start}
                selected={f.id === selectedId}
                compare={mark === 0 ? 'A' : mark === 1 ? 'B' : null}
                workloads={byName}
                onClick={(e) => {
                  if (e.ctrlKey || e.metaKey) {
                    markForCompare(f.id);
                    selectFlow(f.id);
                  } else {
                    selectFlow(f.id);
                    void openDetail(f.id);
                  }
                  scrollRef.current?.focus({ preventScroll: true });
                }}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
}

/** A column header with a shorter label for a narrow list (styles.css swaps them), and the full one as its tooltip. */
function HeadLabel({ full, short, num = false }: { full: string; short: string; num?: boolean }) {
  return (
    <span className={num ? 'num' : undefined} title={full}>
      <span className="head-full">{full}</span>
      <span className="head-short">{short}</span>
    </span>
  );
}

function FlowRow({
  flow: f,
  top,
  selected,
  compare,
  workloads,
  onClick
}: {
  flow: FlowRecord;
  top: number;
  selected: boolean;
  compare: 'A' | 'B' | null;
  workloads: Map<string, WorkloadView>;
  onClick: (e: MouseEvent) => void;
}) {
  const pending = isPending(f);
  const cls = pending ? 'pending' : statusClass(f.status);
  const flags = flagList(f.flags);
  const target = f.destination ?? shortService(f.destinationService) ?? f.authority;
  const svc = f.destination ? (workloads.get(f.destination)?.service ?? shortService(f.destinationService)) : null;
  return (
    <div
      id={`flow-${f.id}`}
      role="option"
      aria-selected={selected}
      className={`flow-row s-${cls} ${selected ? 'selected' : ''} ${compare ? 'marked' : ''}`}
      style={{ transform: `translateY(${top}px)`, height: ROW_HEIGHT }}
      data-testid="flow-row"
      data-id={f.id}
      data-status={pending ? 'pending' : f.status}
      data-pending={pending ? 'true' : undefined}
      data-flags={f.flags}
      data-reporter={f.reporter}
      data-path={f.path}
      data-session={f.sessionId}
      data-replay-of={f.replayOf ?? undefined}
      data-compare={compare ?? undefined}
      onClick={onClick}
    >
      <span className="c-time" title={startedTitle(f.startedAt, f.durationMs, pending)}>
        {formatClock(f.startedAt)}
      </span>
      <span
        className="c-route"
        title={`${f.source ?? 'unknown caller'} → ${f.destination ?? f.destinationService ?? f.authority}${connText(f)}, reported by the ${f.reporter === 'source' ? "caller's" : "server's"} sidecar`}
      >
        {/* in the route cell, which gives way first: in the Started cell it cut the time short */}
        {compare && (
          <span className="cmp-mark" title={`Marked as ${compare} for comparison`}>
            {compare}
          </span>
        )}
        {/* the reporter column is hidden beside the detail pane: a mark tells the two records of a call apart */}
        <span className={`rep-mark rep-${f.reporter}`} aria-hidden="true">
          {f.reporter === 'source' ? 'out' : 'in'}
        </span>
        <ConnIcon security={f.connectionSecurity} testId="flow-conn" />
        {/* the caller gives way first: the service a request went to is what a narrow list must still show */}
        <span className={`route-src ${f.source ? '' : 'txt-faint'}`}>{f.source ?? 'unknown'}</span>
        <span className="arrow"> → </span>
        <span className={`route-dst ${f.destination ? '' : 'txt-muted'}`} data-testid="flow-route-dst">
          {target}
          {svc && svc !== target && !target.startsWith(svc) && <span className="txt-faint"> ({svc})</span>}
        </span>
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
      <span className="c-path" title={`${f.authority}${f.path}${f.replayOf ? ` (replay of ${f.replayOf})` : ''}`}>
        {f.replayOf && (
          <span className="replay-mark" aria-label="replay">
            {CaptureIcons.replay()}
          </span>
        )}
        {f.path}
      </span>
      {pending ? (
        <span className="c-status num st-pending" data-testid="flow-pending-status" title="Waiting for the response">
          <span className="spinner spinner-small" aria-hidden="true" />
          <span className="sr-only">pending</span>
        </span>
      ) : (
        <span className={`c-status num st-${cls}`}>{f.status === 0 ? '—' : f.status}</span>
      )}
      <span className="c-flags">
        {flags.map((fl) => (
          <span key={fl} className="flag">
            {fl}
          </span>
        ))}
      </span>
      <span className="c-dur num" title={pending ? 'Running: time since the request started' : undefined}>
        {pending ? <Elapsed startedAt={f.startedAt} /> : formatDuration(f.durationMs)}
      </span>
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
  const captureOff = useMesh(selectCaptureOff);
  if (captureOff)
    return (
      <Empty title="Capture is off" testId="traffic-empty" icon={Icons.traffic()}>
        <p>
          The mesh file sets{' '}
          <code>
            capture: {'{'}enabled: false{'}'}
          </code>
          : the sidecars route requests and count them in metrics, but record no flow. Remove it (or set{' '}
          <code>enabled: true</code>) and save to record again.
        </p>
      </Empty>
    );
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
