/** CodeMirror 6 YAML editor: controlled by `docKey` + `value`, reports edits, shows issues as lint diagnostics. */
import { forwardRef, useEffect, useImperativeHandle, useRef } from 'react';
import { setDiagnostics } from '@codemirror/lint';
import { EditorSelection, EditorState, Transaction } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import type { ValidationIssue } from '../../../main/contract/api.js';
import { issuesToDiagnostics } from '../editor/diagnostics.js';
import { editorExtensions } from '../editor/setup.js';

export interface YamlEditorHandle {
  goTo(line: number, column?: number): void;
  focus(): void;
}

interface Props {
  /** Changing it starts a fresh editor state (new file: no undo into the previous one). */
  docKey: string;
  value: string;
  issues: ValidationIssue[];
  onChange(text: string): void;
  onSave(): void;
}

export const YamlEditor = forwardRef<YamlEditorHandle, Props>(function YamlEditor(
  { docKey, value, issues, onChange, onSave },
  ref
) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const callbacks = useRef({ onChange, onSave });
  callbacks.current = { onChange, onSave };

  const makeState = (doc: string): EditorState =>
    EditorState.create({
      doc,
      extensions: editorExtensions({
        onChange: (text) => callbacks.current.onChange(text),
        onSave: () => callbacks.current.onSave()
      })
    });

  useEffect(() => {
    const v = new EditorView({ state: makeState(value), parent: host.current! });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The view is created once; docKey/value changes are applied below.
  }, []);

  const lastKey = useRef(docKey);
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    if (lastKey.current !== docKey) {
      lastKey.current = docKey;
      v.setState(makeState(value));
      return;
    }
    const current = v.state.doc.toString();
    if (current !== value) {
      // Changed outside the editor (re-read from disk after a save elsewhere): replace, keep the cursor near.
      const head = Math.min(v.state.selection.main.head, value.length);
      v.dispatch({
        changes: { from: 0, to: current.length, insert: value },
        selection: EditorSelection.cursor(head),
        annotations: Transaction.addToHistory.of(false)
      });
    }
  }, [docKey, value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.dispatch(setDiagnostics(v.state, issuesToDiagnostics(v.state.doc, issues)));
  }, [issues, docKey, value]);

  useImperativeHandle(ref, () => ({
    goTo(line, column = 1) {
      const v = view.current;
      if (!v) return;
      const l = v.state.doc.line(Math.max(1, Math.min(v.state.doc.lines, line)));
      const pos = Math.min(l.to, l.from + Math.max(0, column - 1));
      v.dispatch({ selection: EditorSelection.cursor(pos), effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
      v.focus();
    },
    focus() {
      view.current?.focus();
    }
  }));

  return <div ref={host} className="editor-host" data-testid="rules-editor" />;
});
