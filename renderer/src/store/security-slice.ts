/**
 * Security slice: the mesh CA, each workload's identity, effective mTLS mode and AuthorizationPolicies, and the
 * who-may-call-whom matrix (getSecurity). Loaded when the Security view opens, then refreshed quietly on every
 * config event (PeerAuthentications and AuthorizationPolicies live in the Istio files) and after a reconnect.
 */
import type { SecurityView } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import type { LoadStatus, SliceCreator } from './types.js';

export interface SecuritySlice {
  security: SecurityView | null;
  securityStatus: LoadStatus;
  /** The last load error. With `securityStatus` 'ready' the shown data is older than the last attempt. */
  securityError: ErrorInfo | null;
  /** Clock reading of the last successful load. */
  securityLoadedAt: number | null;
  /** Load (or, with `quiet`, refresh without a loading state) the security view. Resolves to success. */
  loadSecurity(opts?: { quiet?: boolean }): Promise<boolean>;
  /** The config changed: refresh the security view if it has been loaded before (nothing otherwise). */
  securityConfigChanged(): void;
}

export const createSecuritySlice: SliceCreator<SecuritySlice> = (deps) => (set, get) => {
  let seq = 0;
  return {
    security: null,
    securityStatus: 'idle',
    securityError: null,
    securityLoadedAt: null,

    async loadSecurity(opts) {
      const mine = ++seq;
      const quiet = opts?.quiet === true && get().security !== null;
      if (!quiet) set({ securityStatus: 'loading' });
      try {
        const security = await deps.api.getSecurity();
        // A newer request (a config event while this one was on its way) decides what is shown.
        if (mine !== seq) return true;
        set({ security, securityStatus: 'ready', securityError: null, securityLoadedAt: deps.now() });
        return true;
      } catch (err) {
        if (mine !== seq) return false;
        const error = toErrorInfo(err);
        // Keep what is shown after a failed refresh; the view says it may be stale.
        if (quiet) set({ securityError: error });
        else set({ securityStatus: 'error', securityError: error });
        return false;
      }
    },

    securityConfigChanged() {
      if (get().securityStatus === 'idle') return;
      void get().loadSecurity({ quiet: true });
    }
  };
};
