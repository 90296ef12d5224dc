/**
 * Undo/redo for the CodeMirror editor (the project has no @codemirror/commands): a stack of inverted change sets.
 * Typing within 500 ms merges into one step; a change not added to history (a refresh from disk) clears it.
 */
import { ChangeSet, EditorSelection, StateEffect, StateField, Transaction, type EditorState } from '@codemirror/state';
import type { EditorView } from '@codemirror/view';

interface Entry {
  /** Applying these to the current document restores the earlier one. */
  changes: ChangeSet;
  selection: EditorSelection;
}

interface History {
  done: Entry[];
  undone: Entry[];
  lastTime: number;
}

const MAX_DEPTH = 300;
const MERGE_MS = 500;
const EMPTY: History = { done: [], undone: [], lastTime: 0 };
const setHistory = StateEffect.define<History>();

export const historyField = StateField.define<History>({
  create: () => EMPTY,
  update(h, tr) {
    for (const e of tr.effects) if (e.is(setHistory)) return e.value;
    if (!tr.docChanged) return h;
    if (tr.annotation(Transaction.addToHistory) === false) return EMPTY;
    const inverse = tr.changes.invert(tr.startState.doc);
    const time = tr.annotation(Transaction.time) ?? Date.now();
    const last = h.done[h.done.length - 1];
    const typing = tr.isUserEvent('input.type') || tr.isUserEvent('delete');
    if (last && typing && time - h.lastTime < MERGE_MS) {
      const merged: Entry = { changes: inverse.compose(last.changes), selection: last.selection };
      return { done: [...h.done.slice(0, -1), merged], undone: [], lastTime: time };
    }
    const done = [...h.done, { changes: inverse, selection: tr.startState.selection }];
    return {
      done: done.length > MAX_DEPTH ? done.slice(done.length - MAX_DEPTH) : done,
      undone: [],
      lastTime: typing ? time : 0
    };
  }
});

function step(view: EditorView, from: 'done' | 'undone'): boolean {
  const state: EditorState = view.state;
  const h = state.field(historyField, false);
  const entry = h?.[from][h[from].length - 1];
  if (!h || !entry) return false;
  const back: Entry = { changes: entry.changes.invert(state.doc), selection: state.selection };
  const next: History =
    from === 'done'
      ? { done: h.done.slice(0, -1), undone: [...h.undone, back], lastTime: 0 }
      : { done: [...h.done, back], undone: h.undone.slice(0, -1), lastTime: 0 };
  view.dispatch({
    changes: entry.changes,
    selection: entry.selection,
    effects: setHistory.of(next),
    userEvent: from === 'done' ? 'undo' : 'redo',
    scrollIntoView: true
  });
  return true;
}

export const undo = (view: EditorView): boolean => step(view, 'done');
export const redo = (view: EditorView): boolean => step(view, 'undone');
