/** The shell: left nav, the current view, the status bar, the quick-action dialog and toasts. */
import { useEffect, type ReactNode } from 'react';
import { useMesh } from '../hooks.js';
import { RulesView } from '../views/RulesView.js';
import { SecurityView } from '../views/SecurityView.js';
import { GraphView } from '../views/GraphView.js';
import { MetricsView } from '../views/MetricsView.js';
import { ServicesView } from '../views/ServicesView.js';
import { TrafficView } from '../views/TrafficView.js';
import { VIEWS, type View } from '../store/ui-slice.js';
import { QuickActionDialog } from './QuickActionDialog.js';
import { StatusBar } from './StatusBar.js';
import { ErrorText, Icons } from './ui.js';

const NAV: { view: View; label: string; icon: () => ReactNode; hint: string }[] = [
  { view: 'services', label: 'Services', icon: Icons.services, hint: 'Alt+1' },
  { view: 'rules', label: 'Rules', icon: Icons.rules, hint: 'Alt+2' },
  { view: 'traffic', label: 'Traffic', icon: Icons.traffic, hint: 'Alt+3' },
  { view: 'security', label: 'Security', icon: Icons.shield, hint: 'Alt+4' },
  { view: 'graph', label: 'Graph', icon: Icons.graph, hint: 'Alt+5' },
  { view: 'metrics', label: 'Metrics', icon: Icons.chart, hint: 'Alt+6' }
];

export function App() {
  const ready = useMesh((s) => s.ready);
  const view = useMesh((s) => s.view);
  const setView = useMesh((s) => s.setView);
  const quickOpen = useMesh((s) => s.quick !== null);

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const i = ['1', '2', '3', '4', '5', '6'].indexOf(e.key);
      if (i >= 0) {
        e.preventDefault();
        setView(VIEWS[i]!);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [setView]);

  return (
    <div className="app" data-testid="app" data-ready={ready ? 'true' : 'false'}>
      <nav className="nav" aria-label="Views">
        <div className="brand">
          <span className="brand-mark">{Icons.mesh()}</span>
          <span className="brand-name">localmesh</span>
        </div>
        <ul className="nav-list">
          {NAV.map((n) => (
            <li key={n.view}>
              <button
                type="button"
                className="nav-item"
                data-testid={`nav-${n.view}`}
                aria-current={view === n.view ? 'page' : undefined}
                title={`${n.label} (${n.hint})`}
                onClick={() => setView(n.view)}
              >
                {n.icon()}
                <span>{n.label}</span>
              </button>
            </li>
          ))}
        </ul>
        <div className="nav-foot">
          <ThemeToggle />
        </div>
      </nav>
      <main className="main" id="main">
        <Banner />
        <div className="view" key={view}>
          {view === 'services' && <ServicesView />}
          {view === 'rules' && <RulesView />}
          {view === 'traffic' && <TrafficView />}
          {view === 'security' && <SecurityView />}
          {view === 'graph' && <GraphView />}
          {view === 'metrics' && <MetricsView />}
        </div>
      </main>
      <StatusBar />
      {quickOpen && <QuickActionDialog />}
      <Toast />
    </div>
  );
}

function ThemeToggle() {
  const theme = useMesh((s) => s.theme);
  const toggle = useMesh((s) => s.toggleTheme);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      className="nav-item theme-toggle"
      data-testid="theme-toggle"
      onClick={toggle}
      title={`Switch to the ${next} theme`}
    >
      {theme === 'dark' ? Icons.sun() : Icons.moon()}
      <span>{theme === 'dark' ? 'Light theme' : 'Dark theme'}</span>
    </button>
  );
}

function Banner() {
  const banner = useMesh((s) => s.banner);
  const init = useMesh((s) => s.init);
  const dismiss = useMesh((s) => s.dismissBanner);
  if (!banner) return null;
  return (
    <div className="banner" data-testid="error-banner" role="alert">
      <div className="banner-text">
        <ErrorText error={banner} />
        {banner.code !== 'LM204' &&
          (banner.source === 'connection' || banner.code === 'LM500' || banner.code === 'LM104') && (
            <p className="banner-hint">
              Is <code>localmesh up</code> still running? The window reconnects on its own when the engine is back.
            </p>
          )}
      </div>
      <div className="banner-actions">
        <button type="button" className="btn btn-small" onClick={() => void init()}>
          Retry
        </button>
        <button type="button" className="btn btn-small btn-ghost" onClick={dismiss} aria-label="Dismiss">
          {Icons.close()}
        </button>
      </div>
    </div>
  );
}

function Toast() {
  const notice = useMesh((s) => s.notice);
  const dismiss = useMesh((s) => s.dismissNotice);
  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(dismiss, 6000);
    return () => clearTimeout(t);
  }, [notice, dismiss]);
  if (!notice) return null;
  return (
    <div className={`toast toast-${notice.kind}`} role="status">
      <span>{notice.text}</span>
      <button type="button" className="btn btn-small btn-ghost" onClick={dismiss} aria-label="Dismiss">
        {Icons.close()}
      </button>
    </div>
  );
}
