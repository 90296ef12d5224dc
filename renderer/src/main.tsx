/** Renderer entry: pick the transport, build the store, wire engine events and timers, render. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { selectApi } from './api.js';
import { App } from './components/App.js';
import { StoreContext } from './hooks.js';
import { connectEvents, createMeshStore } from './store/index.js';
import { isView } from './store/ui-slice.js';
import './styles.css';

const TICK_MS = 1000;
const HEALTH_MS = 3000;

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

const api = selectApi(window);
const dark = window.matchMedia('(prefers-color-scheme: dark)');
const store = createMeshStore({ api, storage: safeStorage(), prefersDark: dark.matches });

// Theme: the html element carries it for CSS (and for tests).
const applyTheme = (theme: string): void => {
  document.documentElement.dataset.theme = theme;
};
applyTheme(store.getState().theme);
store.subscribe((s, prev) => {
  if (s.theme !== prev.theme) applyTheme(s.theme);
});
dark.addEventListener('change', (e) => store.getState().setSystemTheme(e.matches));

connectEvents(store, api);
void store.getState().init();
setInterval(() => store.getState().tick(), TICK_MS);
setInterval(() => void store.getState().checkHealth(), HEALTH_MS);

window.localmeshShell?.onNavigate?.((view) => {
  if (isView(view)) store.getState().setView(view);
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>
  </StrictMode>
);
