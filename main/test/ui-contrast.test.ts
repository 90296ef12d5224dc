/**
 * WCAG AA for the renderer's theme colours: every text colour of renderer/src/styles.css against every background it is drawn on, in both
 * themes, read from the `[data-theme=…]` variable blocks of the stylesheet itself (so an edit that makes a shade too
 * faint fails here). Every pair is held to 4.5:1 (normal text): none of them is only ever large text or an icon.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// read as text (the renderer itself may not use node builtins, so this test lives with the node-side tests)
const CSS = readFileSync(new URL('../../renderer/src/styles.css', import.meta.url), 'utf8');

type Theme = 'light' | 'dark';

/** The `--name: #hex` variables of a theme, in cascade order (the light block also holds `:root`). */
function themeVars(css: string, theme: Theme): Map<string, string> {
  const vars = new Map<string, string>();
  const blocks = /([^{}]*)\{([^}]*)\}/g;
  for (const [, selector, body] of css.matchAll(blocks)) {
    const selectors = selector!.split(',').map((s) => s.replace(/\/\*[\s\S]*?\*\//g, '').trim());
    const applies = selectors.includes(`[data-theme='${theme}']`) || (theme === 'dark' && selectors.includes(':root'));
    if (!applies) continue;
    for (const [, name, value] of body!.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;/g)) vars.set(name!, value!);
  }
  return vars;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** WCAG 2 contrast ratio of two #rrggbb colours (1 to 21). */
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** Text colours of the UI (labels, secondary and faint text, links, status words). */
const TEXT = ['text', 'text-muted', 'text-faint', 'accent', 'accent-hover', 'ok', 'warn', 'err', 'redirect'];
/** Every surface such text sits on: pages, panels, table rows (hovered, selected), the editor, tinted badges. */
const SURFACES = [
  'bg',
  'bg-subtle',
  'bg-sunken',
  'bg-editor',
  'panel',
  'row-hover',
  'row-selected',
  'active-line',
  'accent-soft',
  'ok-soft',
  'warn-soft',
  'err-soft',
  'redirect-soft'
];
/** The YAML editor's token colours and the backgrounds of its lines (active line, selection, bracket match, folds). */
const SYNTAX = ['syn-key', 'syn-string', 'syn-number', 'syn-keyword', 'syn-comment', 'syn-meta', 'syn-punct'];
const EDITOR = ['bg-editor', 'active-line', 'selection', 'accent-soft', 'bg-sunken'];

interface Pair {
  fg: string;
  bg: string;
  min: number;
}

const PAIRS: Pair[] = [
  ...TEXT.flatMap((fg) => SURFACES.map((bg) => ({ fg, bg, min: 4.5 }))),
  ...[...SYNTAX, 'text'].flatMap((fg) => EDITOR.map((bg) => ({ fg, bg, min: 4.5 }))),
  // filled buttons and badges
  { fg: 'accent-fg', bg: 'accent', min: 4.5 },
  { fg: 'accent-fg', bg: 'accent-hover', min: 4.5 },
  { fg: 'panel', bg: 'err', min: 4.5 },
  { fg: 'panel', bg: 'warn', min: 4.5 },
  // the navigation rail
  { fg: 'nav-text', bg: 'nav', min: 4.5 },
  { fg: 'nav-text', bg: 'nav-active-bg', min: 4.5 },
  { fg: 'nav-active', bg: 'nav', min: 4.5 },
  { fg: 'nav-active', bg: 'nav-active-bg', min: 4.5 }
];

describe('theme colours meet WCAG AA', () => {
  it('contrast() follows WCAG 2', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 6);
    expect(contrast('#ffffff', '#ffffff')).toBeCloseTo(1, 6);
    expect(contrast('#767676', '#ffffff')).toBeCloseTo(4.54, 2);
  });

  for (const theme of ['light', 'dark'] as const) {
    it(`${theme}: every text colour against every background it is used on`, () => {
      const vars = themeVars(CSS, theme);
      const failures: string[] = [];
      for (const { fg, bg, min } of PAIRS) {
        const a = vars.get(fg);
        const b = vars.get(bg);
        expect(a, `--${fg} is defined as #rrggbb in the ${theme} theme`).toMatch(/^#[0-9a-f]{6}$/i);
        expect(b, `--${bg} is defined as #rrggbb in the ${theme} theme`).toMatch(/^#[0-9a-f]{6}$/i);
        const ratio = contrast(a!, b!);
        if (ratio < min) failures.push(`--${fg} ${a} on --${bg} ${b}: ${ratio.toFixed(2)}:1 < ${min}:1`);
      }
      expect(failures).toEqual([]);
    });
  }

  it('reads both theme blocks', () => {
    const light = themeVars(CSS, 'light');
    const dark = themeVars(CSS, 'dark');
    expect(light.get('text')).not.toBe(dark.get('text'));
    expect(light.size).toBeGreaterThan(30);
    expect(dark.size).toBeGreaterThan(30);
  });
});
