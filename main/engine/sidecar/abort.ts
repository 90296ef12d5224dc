/**
 * A per-request abort flag with listeners: what the sidecars used an AbortController for, without the EventTarget
 * machinery (creating an AbortSignal and adding and removing its listeners cost several microseconds per request).
 * Listeners run once, in the order they were added; one added after the abort never runs (as with AbortSignal).
 * `signal` gives a real AbortSignal, made on demand, for APIs that take one.
 */
export class Abort {
  aborted = false;
  private listeners: (() => void)[] | undefined;
  private controller: AbortController | undefined;

  onAbort(fn: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(fn);
  }

  offAbort(fn: () => void): void {
    const l = this.listeners;
    if (!l) return;
    const i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const l = this.listeners;
    this.listeners = undefined;
    if (l) for (const fn of l) fn();
    this.controller?.abort();
  }

  /** An AbortSignal that aborts with this one. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }
}

/** What an upstream try needs of an Abort. */
export interface AbortLike {
  readonly aborted: boolean;
  onAbort(fn: () => void): void;
  offAbort(fn: () => void): void;
}
