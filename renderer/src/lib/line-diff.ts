/**
 * A small line diff (LCS) for reviewing quick-action edits: Istio files are short, so the O(n·m) table is fine;
 * beyond MAX_CELLS it degrades to "all removed, all added" rather than freezing the window.
 */
export type DiffOp = 'eq' | 'add' | 'del';

export interface DiffLine {
  op: DiffOp;
  text: string;
  /** 1-based line in `before` (eq/del) */
  oldNo: number | null;
  /** 1-based line in `after` (eq/add) */
  newNo: number | null;
}

const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function diffLines(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  // Trim the common head and tail first: quick actions touch a few lines of a file.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: 'eq', text: a[i]!, oldNo: i + 1, newNo: i + 1 });
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  out.push(...diffMiddle(am, bm, head));
  for (let i = tail; i > 0; i--) {
    const ai = a.length - i;
    const bi = b.length - i;
    out.push({ op: 'eq', text: a[ai]!, oldNo: ai + 1, newNo: bi + 1 });
  }
  return out;
}

function diffMiddle(a: string[], b: string[], offset: number): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [
      ...a.map((text, i) => ({ op: 'del' as const, text, oldNo: offset + i + 1, newNo: null })),
      ...b.map((text, j) => ({ op: 'add' as const, text, oldNo: null, newNo: offset + j + 1 }))
    ];
  }
  // lcs[i][j] = LCS length of a[i..] and b[j..]
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] =
        a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: 'eq', text: a[i]!, oldNo: offset + i + 1, newNo: offset + j + 1 });
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!) {
      out.push({ op: 'del', text: a[i]!, oldNo: offset + i + 1, newNo: null });
      i++;
    } else {
      out.push({ op: 'add', text: b[j]!, oldNo: null, newNo: offset + j + 1 });
      j++;
    }
  }
  for (; i < n; i++) out.push({ op: 'del', text: a[i]!, oldNo: offset + i + 1, newNo: null });
  for (; j < m; j++) out.push({ op: 'add', text: b[j]!, oldNo: null, newNo: offset + j + 1 });
  return out;
}

export type DiffChunk = { type: 'lines'; lines: DiffLine[] } | { type: 'skip'; count: number };

/** Keep `context` unchanged lines around each change; fold the rest into "N unchanged lines" markers. */
export function withContext(lines: DiffLine[], context = 3): DiffChunk[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op === 'eq') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const chunks: DiffChunk[] = [];
  let run: DiffLine[] = [];
  let skipped = 0;
  lines.forEach((l, i) => {
    if (keep[i]) {
      if (skipped > 0) chunks.push({ type: 'skip', count: skipped });
      skipped = 0;
      run.push(l);
    } else {
      if (run.length > 0) chunks.push({ type: 'lines', lines: run });
      run = [];
      skipped++;
    }
  });
  if (run.length > 0) chunks.push({ type: 'lines', lines: run });
  if (skipped > 0) chunks.push({ type: 'skip', count: skipped });
  return chunks;
}

export function diffStats(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.op === 'add') added++;
    else if (l.op === 'del') removed++;
  }
  return { added, removed };
}
