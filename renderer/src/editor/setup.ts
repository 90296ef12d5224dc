/**
 * The YAML editor's extensions, built only from the installed CodeMirror packages: line numbers, folding,
 * YAML highlighting with theme colours from CSS variables, lint gutter, undo/redo, indentation keys, Mod-S.
 */
import { yaml } from '@codemirror/lang-yaml';
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting
} from '@codemirror/language';
import { lintGutter, lintKeymap } from '@codemirror/lint';
import { EditorSelection, EditorState, type Extension } from '@codemirror/state';
import {
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers
} from '@codemirror/view';
import { tags as t } from '@lezer/highlight';
import { historyField, redo, undo } from './history.js';

const INDENT = '  ';

const highlight = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], color: 'var(--syn-key)' },
  { tag: [t.string, t.special(t.string)], color: 'var(--syn-string)' },
  { tag: [t.number, t.bool, t.null], color: 'var(--syn-number)' },
  { tag: [t.keyword, t.atom], color: 'var(--syn-keyword)' },
  { tag: t.comment, color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [t.meta, t.documentMeta, t.processingInstruction], color: 'var(--syn-meta)' },
  { tag: [t.punctuation, t.separator, t.squareBracket, t.brace], color: 'var(--syn-punct)' },
  { tag: [t.labelName, t.typeName], color: 'var(--syn-keyword)' }
]);

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px', backgroundColor: 'var(--bg-editor)', color: 'var(--text)' },
  '.cm-scroller': { fontFamily: 'var(--font-mono)', lineHeight: '1.55' },
  '.cm-content': { caretColor: 'var(--accent)', padding: '6px 0' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--accent)', borderLeftWidth: '2px' },
  // the app's focus ring (styles.css :focus-visible), inside the editor's box
  '&.cm-focused': { outline: '2px solid var(--accent)', outlineOffset: '-2px' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'var(--selection) !important'
  },
  '.cm-gutters': {
    backgroundColor: 'var(--bg-editor)',
    color: 'var(--text-faint)',
    borderRight: '1px solid var(--border)'
  },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--active-line)', color: 'var(--text-muted)' },
  '.cm-foldPlaceholder': {
    backgroundColor: 'var(--bg-sunken)',
    border: '1px solid var(--border)',
    color: 'var(--text-muted)'
  },
  '.cm-tooltip': {
    backgroundColor: 'var(--panel)',
    border: '1px solid var(--border-strong)',
    color: 'var(--text)',
    borderRadius: '6px'
  },
  '.cm-tooltip-lint': { padding: '2px 0' },
  '.cm-diagnostic': { padding: '4px 10px', fontFamily: 'var(--font-ui)', fontSize: '12.5px' },
  '.cm-diagnostic-error': { borderLeft: '4px solid var(--err)' },
  '.cm-diagnostic-warning': { borderLeft: '4px solid var(--warn)' },
  '.cm-diagnostic-info': { borderLeft: '4px solid var(--accent)' },
  '.cm-lintRange-error': {
    backgroundImage: 'none',
    textDecoration: 'underline wavy var(--err)',
    textUnderlineOffset: '3px'
  },
  '.cm-lintRange-warning': {
    backgroundImage: 'none',
    textDecoration: 'underline wavy var(--warn)',
    textUnderlineOffset: '3px'
  },
  '.cm-lintRange-info': {
    backgroundImage: 'none',
    textDecoration: 'underline dotted var(--accent)',
    textUnderlineOffset: '3px'
  },
  '.cm-panels': { backgroundColor: 'var(--bg-subtle)', color: 'var(--text)' },
  '.cm-matchingBracket': { backgroundColor: 'var(--accent-soft)', outline: '1px solid var(--accent)' }
});

function lineIndent(text: string): string {
  return /^[ \t]*/.exec(text)![0];
}

/** Enter: a new line with the same indentation, one level deeper after "key:" or "- key:". */
function newlineKeepIndent(view: EditorView): boolean {
  const { state } = view;
  view.dispatch(
    state.changeByRange((range) => {
      const line = state.doc.lineAt(range.from);
      const before = line.text.slice(0, range.from - line.from);
      let indent = lineIndent(line.text);
      if (/:\s*$/.test(before)) indent += INDENT;
      else if (/^\s*- /.test(before) && before.trim() !== '-') indent += INDENT;
      const insert = '\n' + indent;
      return {
        changes: { from: range.from, to: range.to, insert },
        range: EditorSelection.cursor(range.from + insert.length)
      };
    }),
    { scrollIntoView: true, userEvent: 'input' }
  );
  return true;
}

function indentSelection(view: EditorView, dir: 1 | -1): boolean {
  const { state } = view;
  if (dir === 1 && state.selection.ranges.every((r) => r.empty)) {
    view.dispatch(state.replaceSelection(INDENT), { userEvent: 'input', scrollIntoView: true });
    return true;
  }
  const changes = [];
  const seen = new Set<number>();
  for (const r of state.selection.ranges) {
    for (let pos = r.from; pos <= r.to;) {
      const line = state.doc.lineAt(pos);
      if (!seen.has(line.number)) {
        seen.add(line.number);
        if (dir === 1) changes.push({ from: line.from, insert: INDENT });
        else {
          const n = Math.min(INDENT.length, lineIndent(line.text).length);
          if (n > 0) changes.push({ from: line.from, to: line.from + n });
        }
      }
      pos = line.to + 1;
    }
  }
  if (changes.length > 0) view.dispatch({ changes, userEvent: dir === 1 ? 'input.indent' : 'delete.dedent' });
  return true;
}

/**
 * Tab indents; after Escape, Tab moves focus out of the editor as usual (keyboard users are never trapped).
 */
function tabKeys(): Extension {
  let escaped = false;
  return [
    EditorView.domEventHandlers({
      keydown(e) {
        if (e.key === 'Escape') escaped = true;
        else if (e.key !== 'Tab' && e.key !== 'Shift') escaped = false;
        return false;
      }
    }),
    keymap.of([
      { key: 'Tab', run: (v) => (escaped ? ((escaped = false), false) : indentSelection(v, 1)) },
      { key: 'Shift-Tab', run: (v) => (escaped ? ((escaped = false), false) : indentSelection(v, -1)) }
    ])
  ];
}

export function editorExtensions(opts: { onSave: () => void; onChange: (text: string) => void }): Extension[] {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    foldGutter(),
    lintGutter(),
    highlightSpecialChars(),
    drawSelection(),
    dropCursor(),
    highlightActiveLine(),
    indentOnInput(),
    bracketMatching(),
    indentUnit.of(INDENT),
    EditorState.tabSize.of(2),
    yaml(),
    syntaxHighlighting(highlight),
    theme,
    historyField,
    tabKeys(),
    keymap.of([
      { key: 'Mod-s', preventDefault: true, run: () => (opts.onSave(), true) },
      { key: 'Mod-z', preventDefault: true, run: undo },
      { key: 'Mod-y', preventDefault: true, run: redo },
      { key: 'Mod-Shift-z', preventDefault: true, run: redo },
      { key: 'Enter', run: newlineKeepIndent },
      {
        key: 'Mod-a',
        run: (v) => (
          v.dispatch({ selection: EditorSelection.single(0, v.state.doc.length), userEvent: 'select' }),
          true
        )
      },
      ...foldKeymap,
      ...lintKeymap
    ]),
    EditorView.contentAttributes.of({
      'aria-label': 'Istio YAML',
      spellcheck: 'false',
      autocapitalize: 'off',
      autocorrect: 'off'
    }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) opts.onChange(u.state.doc.toString());
    })
  ];
}
