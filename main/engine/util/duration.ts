/** Parse a protobuf-style duration ("1.5s", "250ms", "1m30s") into milliseconds. Returns NaN when malformed. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const n = Number(m[1]);
    const unit = m[2];
    total +=
      unit === 'h'
        ? n * 3_600_000
        : unit === 'm'
          ? n * 60_000
          : unit === 's'
            ? n * 1000
            : unit === 'ms'
              ? n
              : unit === 'ns'
                ? n / 1e6
                : n / 1000;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : NaN;
}

/** A configured duration in milliseconds, or undefined when it is not a string or not a duration (parseDuration). */
export function durationMs(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const ms = parseDuration(v);
  return Number.isNaN(ms) ? undefined : ms;
}
