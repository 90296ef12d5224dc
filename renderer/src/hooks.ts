/** React bindings for the vanilla store: one context, `useMesh(selector)` on top of zustand's `useStore`. */
import { createContext, useContext, useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { MeshState, MeshStore } from './store/index.js';

export const StoreContext = createContext<MeshStore | null>(null);

export function useMeshStore(): MeshStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useMesh outside <StoreContext.Provider>');
  return store;
}

export function useMesh<T>(selector: (s: MeshState) => T): T {
  return useStore(useMeshStore(), selector);
}

/** A value that follows `value` after it has been stable for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
