/**
 * The one seeded generator for weights, fault percentages, LB picks and jitter (mulberry32).
 * `--seed N` reproduces a run; tests pass a seed and assert on exact sequences or wide distributions.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  readonly seed: number;
}

export function createRandom(seed: number = (Date.now() ^ (process.pid << 16)) >>> 0): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), seed };
}

/** The one clock. Tests may substitute it. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => performance.timeOrigin + performance.now() };
