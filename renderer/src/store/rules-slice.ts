/**
 * Rules slice: the running config (version, issues, last reload), the Istio files, the open file in the editor
 * (live validation while typing, save = write + reload) and the quick-action dialog (plan → diff → save).
 */
import type { ConfigView, EditPlan, IstioFileView, ReloadResult, ValidationIssue } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import {
  buildQuickAction,
  draftFor,
  servicesOf,
  strictTargetFor,
  type MtlsScope,
  type QuickDraft,
  type QuickKind,
  type ServiceRef
} from '../lib/quick.js';
import type { LoadStatus, SliceCreator } from './types.js';

export interface EditorState {
  path: string;
  relative: string;
  /** Content on disk as last read or written. */
  saved: string;
  text: string;
  status: LoadStatus;
  error: ErrorInfo | null;
}

export interface QuickState {
  draft: QuickDraft;
  plan: EditPlan | null;
  planning: boolean;
  saving: boolean;
  error: ErrorInfo | null;
}

/** Save was asked for while validation shows errors: the view asks before writing (Save anyway / Cancel). */
export interface SaveConfirm {
  path: string;
  relative: string;
  /** Errors validation shows for the config with the editor's text (this file and the others). */
  errors: number;
  /** The version that keeps running if the reload is rejected (null before the config is known). */
  runningVersion: number | null;
}

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

export interface RulesSlice {
  config: ConfigView | null;
  configStatus: LoadStatus;
  configError: ErrorInfo | null;
  files: IstioFileView[];
  filesStatus: LoadStatus;
  filesError: ErrorInfo | null;
  editor: EditorState | null;
  /** Issues of the editor's text from validateIstioText (null until the first answer). */
  liveIssues: ValidationIssue[] | null;
  validating: boolean;
  validateError: ErrorInfo | null;
  saving: boolean;
  saveResult: ReloadResult | null;
  saveError: ErrorInfo | null;
  /** Set while Save waits for the user to confirm writing a file with errors. */
  saveConfirm: SaveConfirm | null;
  quick: QuickState | null;
  /** A short message after a quick action was saved (shown as a toast). */
  notice: Notice | null;
  /** A line the editor should scroll to once `path` is open (a click on a resource). */
  reveal: { path: string; line: number; seq: number } | null;
  /**
   * Unsaved edits of files the editor left for another one, by path: they come back when the file is opened again
   * (switching files never throws an edit away). Gone once saved.
   */
  drafts: Record<string, string>;
  loadConfig(opts?: { quiet?: boolean }): Promise<boolean>;
  loadFiles(opts?: { quiet?: boolean }): Promise<void>;
  openFile(path: string): Promise<void>;
  openFileAt(path: string, line: number): Promise<void>;
  setEditorText(text: string): void;
  validateNow(): Promise<void>;
  /**
   * Write the open file and reload. When validation shows errors it only asks (saveConfirm) unless `force`:
   * the engine would reject the reload and keep the last good config running. Warnings alone do not ask.
   */
  saveFile(opts?: { force?: boolean }): Promise<void>;
  /** "Save anyway": write the file the confirmation was about. */
  confirmSave(): Promise<void>;
  /** "Cancel": nothing is written; the edit stays in the editor. */
  cancelSave(): void;
  applyReload(reload: ReloadResult): void;
  openQuickAction(kind: QuickKind, service?: string): void;
  /** Open the dialog for "Require mTLS (STRICT)" on a workload or its namespace, and preview the change at once. */
  openStrictMtls(workload: string, scope: MtlsScope): void;
  updateQuickDraft(patch: Partial<QuickDraft>): void;
  previewQuick(): Promise<void>;
  saveQuick(): Promise<void>;
  closeQuickAction(): void;
  dismissNotice(): void;
}

export const createRulesSlice: SliceCreator<RulesSlice> = (deps) => (set, get) => {
  let validateTimer: ReturnType<typeof setTimeout> | undefined;
  let validateSeq = 0;
  /** The path and text liveIssues are the answer for. */
  let validated: { path: string; text: string } | null = null;

  function services(): ServiceRef[] {
    return servicesOf(get().workloads);
  }

  function multiNamespace(): boolean {
    return new Set(services().map((s) => s.namespace)).size > 1;
  }

  async function refreshEditorFromDisk(): Promise<void> {
    const ed = get().editor;
    if (!ed || ed.text !== ed.saved || ed.status !== 'ready') return;
    try {
      const file = await deps.api.readIstioFile({ path: ed.path });
      const now = get().editor;
      if (now && now.path === ed.path && now.text === now.saved && file.content !== now.saved) {
        set({ editor: { ...now, saved: file.content, text: file.content } });
        void get().validateNow();
      }
    } catch {
      // The file may have been removed; the files list shows it.
    }
  }

  return {
    config: null,
    configStatus: 'idle',
    configError: null,
    files: [],
    filesStatus: 'idle',
    filesError: null,
    editor: null,
    liveIssues: null,
    validating: false,
    validateError: null,
    saving: false,
    saveResult: null,
    saveError: null,
    saveConfirm: null,
    quick: null,
    notice: null,
    reveal: null,
    drafts: {},

    async loadConfig(opts) {
      if (!opts?.quiet) set({ configStatus: 'loading' });
      try {
        const config = await deps.api.getConfig();
        const have = get().config;
        // An answer that overtook a newer config event must not roll the version back.
        if (have && config.version < have.version) return true;
        set({ config, configStatus: 'ready', configError: null });
        return true;
      } catch (err) {
        if (opts?.quiet && get().configStatus === 'ready') return false;
        set({ configStatus: 'error', configError: toErrorInfo(err) });
        return false;
      }
    },

    async loadFiles(opts) {
      if (!opts?.quiet) set({ filesStatus: 'loading' });
      try {
        const files = await deps.api.listIstioFiles();
        set({ files, filesStatus: 'ready', filesError: null });
      } catch (err) {
        if (opts?.quiet && get().filesStatus === 'ready') return;
        set({ filesStatus: 'error', filesError: toErrorInfo(err) });
      }
    },

    async openFile(path) {
      const relative = get().files.find((f) => f.path === path)?.relative ?? path;
      clearTimeout(validateTimer);
      validateSeq++;
      // the file being left keeps its unsaved edit as a draft
      const leaving = get().editor;
      if (leaving && leaving.status === 'ready' && leaving.path !== path) {
        const drafts = withoutKey(get().drafts, leaving.path);
        set({ drafts: leaving.text !== leaving.saved ? { ...drafts, [leaving.path]: leaving.text } : drafts });
      }
      set({
        editor: { path, relative, saved: '', text: '', status: 'loading', error: null },
        liveIssues: null,
        validating: false,
        validateError: null,
        saveResult: null,
        saveError: null,
        saveConfirm: null
      });
      try {
        const file = await deps.api.readIstioFile({ path });
        if (get().editor?.path !== path) return;
        const draft = get().drafts[path];
        set({
          editor: { path, relative, saved: file.content, text: draft ?? file.content, status: 'ready', error: null }
        });
        void get().validateNow();
      } catch (err) {
        if (get().editor?.path !== path) return;
        set({ editor: { path, relative, saved: '', text: '', status: 'error', error: toErrorInfo(err) } });
      }
    },

    async openFileAt(path, line) {
      set({ reveal: { path, line, seq: (get().reveal?.seq ?? 0) + 1 } });
      if (get().editor?.path !== path) await get().openFile(path);
    },

    setEditorText(text) {
      const ed = get().editor;
      if (!ed || ed.status !== 'ready' || ed.text === text) return;
      set({ editor: { ...ed, text }, saveResult: null, saveError: null });
      clearTimeout(validateTimer);
      validateTimer = setTimeout(() => void get().validateNow(), deps.validateDelayMs);
    },

    async validateNow() {
      clearTimeout(validateTimer);
      const ed = get().editor;
      if (!ed || ed.status !== 'ready') return;
      const seq = ++validateSeq;
      set({ validating: true });
      try {
        const issues = await deps.api.validateIstioText({ path: ed.path, content: ed.text });
        if (seq === validateSeq) {
          validated = { path: ed.path, text: ed.text };
          set({ liveIssues: issues, validating: false, validateError: null });
        }
      } catch (err) {
        if (seq === validateSeq) set({ validating: false, validateError: toErrorInfo(err) });
      }
    },

    async saveFile(opts) {
      let ed = get().editor;
      if (!ed || ed.status !== 'ready' || get().saving) return;
      if (!opts?.force) {
        // the issues must be those of the text being saved: validate it first if they are not (yet)
        if (validated?.path !== ed.path || validated.text !== ed.text) await get().validateNow();
        ed = get().editor;
        if (!ed || ed.status !== 'ready' || get().saving) return;
        const fresh = validated?.path === ed.path && validated.text === ed.text;
        const errors = fresh ? (get().liveIssues ?? []).filter((i) => i.severity === 'error').length : 0;
        if (errors > 0) {
          set({
            saveConfirm: {
              path: ed.path,
              relative: ed.relative,
              errors,
              runningVersion: get().config?.version ?? null
            }
          });
          return;
        }
      }
      const content = ed.text;
      set({ saving: true, saveResult: null, saveError: null, saveConfirm: null });
      try {
        const result = await deps.api.writeIstioFile({ path: ed.path, content });
        const now = get().editor;
        // The file is on disk either way; a rejected reload only means the mesh keeps its last good config.
        if (now && now.path === ed.path) set({ editor: { ...now, saved: content } });
        set({ saving: false, saveResult: result, drafts: withoutKey(get().drafts, ed.path) });
        get().applyReload(result);
      } catch (err) {
        set({ saving: false, saveError: toErrorInfo(err) });
      }
    },

    async confirmSave() {
      const c = get().saveConfirm;
      set({ saveConfirm: null });
      if (c && get().editor?.path === c.path) await get().saveFile({ force: true });
    },

    cancelSave() {
      set({ saveConfirm: null });
    },

    applyReload(reload) {
      set((s) => ({
        config: s.config
          ? { ...s.config, version: reload.version, lastReload: reload, issues: reload.issues }
          : s.config
      }));
      // Resources and files may have changed: refresh them without flashing a loading state.
      void get().loadConfig({ quiet: true });
      void get().loadFiles({ quiet: true });
      void refreshEditorFromDisk();
      // PeerAuthentications and AuthorizationPolicies may have changed too.
      get().securityConfigChanged();
    },

    openQuickAction(kind, service) {
      const all = services();
      const target = all.find((s) => s.name === service) ?? all[0] ?? { name: service ?? '', namespace: 'default' };
      const draft = draftFor(kind, target, get().config?.resources ?? []);
      if (kind === 'mtls-strict') draft.workload = strictTargetFor(get().workloads, target.name);
      set({ quick: { draft, plan: null, planning: false, saving: false, error: null } });
      if (kind === 'clear-fault') void get().previewQuick();
    },

    openStrictMtls(workload, scope) {
      const w = get().workloads.find((x) => x.name === workload);
      const target = w
        ? { name: w.service, namespace: w.namespace }
        : (services()[0] ?? { name: '', namespace: 'default' });
      const draft: QuickDraft = { ...draftFor('mtls-strict', target, get().config?.resources ?? []), workload, scope };
      set({ quick: { draft, plan: null, planning: false, saving: false, error: null } });
      void get().previewQuick();
    },

    updateQuickDraft(patch) {
      const q = get().quick;
      if (!q) return;
      let draft = { ...q.draft, ...patch };
      if (draft.kind === 'mtls-strict' && draft.workload === '') {
        draft.workload = strictTargetFor(get().workloads, draft.service);
      }
      if (patch.workload !== undefined && patch.workload !== q.draft.workload) {
        // Keep the service in step, so switching back to another action starts from the same service.
        const w = get().workloads.find((x) => x.name === patch.workload);
        if (w) draft = { ...draft, service: w.service, namespace: w.namespace };
      }
      if (draft.service !== q.draft.service) {
        const ref = services().find((s) => s.name === draft.service) ?? {
          name: draft.service,
          namespace: draft.namespace
        };
        const fresh = draftFor(draft.kind, ref, get().config?.resources ?? []);
        draft = {
          ...draft,
          namespace: ref.namespace,
          weights: fresh.weights,
          timeoutMs: fresh.timeoutMs,
          retries: fresh.retries
        };
      }
      set({ quick: { ...q, draft, plan: null, error: null } });
    },

    async previewQuick() {
      const q = get().quick;
      if (!q) return;
      const action = buildQuickAction(q.draft, multiNamespace());
      if ('error' in action) {
        set({ quick: { ...q, plan: null, error: { code: 'LM201', message: action.error } } });
        return;
      }
      set({ quick: { ...q, planning: true, plan: null, error: null } });
      try {
        const plan = await deps.api.planQuickAction(action);
        const now = get().quick;
        if (now && now.draft === q.draft) set({ quick: { ...now, planning: false, plan } });
      } catch (err) {
        const now = get().quick;
        if (now && now.draft === q.draft) set({ quick: { ...now, planning: false, error: toErrorInfo(err) } });
      }
    },

    async saveQuick() {
      const q = get().quick;
      if (!q?.plan || q.saving) return;
      const plan = q.plan;
      set({ quick: { ...q, saving: true, error: null } });
      try {
        const result = await deps.api.writeIstioFile({ path: plan.path, content: plan.after });
        get().applyReload(result);
        if (result.ok) {
          set({
            quick: null,
            notice: {
              kind: 'ok',
              text: `${plan.summary.replace(/\.$/, '')}: saved ${plan.relative}, config v${result.version} is running.`
            }
          });
        } else {
          const now = get().quick;
          set({
            quick: now
              ? { ...now, saving: false, error: { code: 'LM105', message: rejectedMessage(plan.relative, result) } }
              : null
          });
        }
      } catch (err) {
        const now = get().quick;
        set({ quick: now ? { ...now, saving: false, error: toErrorInfo(err) } : null });
      }
    },

    closeQuickAction() {
      set({ quick: null });
    },

    dismissNotice() {
      set({ notice: null });
    }
  };
};

export function rejectedMessage(relative: string, result: ReloadResult): string {
  const why = result.error ?? 'see the problems in Rules.';
  const tail = /keeps running/i.test(why) ? '' : ` The mesh keeps running config v${result.version}.`;
  return `Wrote ${relative}, but the reload was rejected: ${why}${tail}`;
}

/** `record` without `key`. */
function withoutKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  const out = { ...record };
  delete out[key];
  return out;
}
