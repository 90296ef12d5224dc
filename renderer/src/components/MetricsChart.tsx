/**
 * One uPlot time-series chart. Colours come from the theme's CSS variables (read when the chart is built, and the
 * chart is rebuilt when the theme changes); the width follows the container (ResizeObserver); new data replaces the
 * old without rebuilding.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useMesh } from '../hooks.js';
import { isolated, timeTickLabels, timeValue, withAlpha } from '../lib/metrics.js';

export interface ChartLine {
  label: string;
  /** A CSS variable of the theme, e.g. "--accent". */
  colour: string;
  values: (number | null)[];
  dash?: number[];
  /** Fill the area under the line (a faint wash of its colour). */
  fill?: boolean;
  /** Dots on values between two empty buckets (for series with gaps: a lone value draws no line). */
  dots?: boolean;
}

const HEIGHT = 170;

const isolatedPoints = (u: uPlot, seriesIdx: number): number[] =>
  isolated(u.data[seriesIdx] as (number | null | undefined)[]);

export function MetricsChart({
  t,
  lines,
  format,
  testId,
  label,
  points,
  ticks
}: {
  /** Seconds since the epoch. */
  t: number[];
  lines: ChartLine[];
  /** Formats a y value for the legend (and the axis, without `ticks`). */
  format: (v: number) => string;
  /** Labels for the y-axis ticks, all at once (they share their decimals); default: `format` of each. */
  ticks?: (splits: number[]) => string[];
  testId: string;
  label: string;
  /** Buckets with data, for the tests and screen readers. */
  points: number;
}) {
  const theme = useMesh((s) => s.theme);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data: uPlot.AlignedData = [t, ...lines.map((l) => l.values)];
  const latest = useRef(data);
  latest.current = data;
  const formatRef = useRef(format);
  formatRef.current = format;
  const ticksRef = useRef(ticks);
  ticksRef.current = ticks;
  const shape = lines
    .map((l) => [l.label, l.colour, l.dash?.join(',') ?? '', l.fill ? 1 : 0, l.dots ? 1 : 0].join(':'))
    .join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const v = (name: string): string => css.getPropertyValue(name).trim();
    const font = `11px ${v('--font-ui') || 'system-ui, sans-serif'}`;
    const axis = (): uPlot.Axis => ({
      stroke: v('--text-muted'),
      grid: { stroke: v('--border'), width: 1 },
      ticks: { stroke: v('--border'), width: 1, size: 4 },
      font,
      labelFont: font
    });
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      pxAlign: false,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] }
      },
      axes: [
        {
          ...axis(),
          // uPlot's own labels put the date under the first tick whatever the window: only when it crosses midnight
          values: (_u, splits, _axis, _space, incr) => timeTickLabels(splits, incr)
        },
        {
          ...axis(),
          size: 56,
          values: (_u, splits) => {
            const labels = ticksRef.current ? ticksRef.current(splits) : splits.map((s) => formatRef.current(s));
            // what the canvas shows, for the tests
            el.dataset.yTicks = labels.join(' | ');
            return labels;
          }
        }
      ],
      series: [
        { value: (_u, sec) => (sec === null || sec === undefined ? '–' : timeValue(sec)) },
        ...lines.map((l): uPlot.Series => ({
          label: l.label,
          stroke: v(l.colour),
          width: 1.75,
          dash: l.dash,
          fill: l.fill ? withAlpha(v(l.colour), 0.14) : undefined,
          spanGaps: false,
          points: l.dots === true ? { show: true, size: 5, filter: isolatedPoints } : { show: false },
          value: (_u, val) => (val === null || val === undefined ? '–' : formatRef.current(val))
        }))
      ]
    };
    const u = new uPlot(opts, latest.current, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: HEIGHT });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the theme or the set of lines changes; data updates go through setData below.
  }, [theme, shape]);

  useEffect(() => {
    plot.current?.setData(latest.current);
  });

  return (
    <div
      className="metrics-chart"
      ref={box}
      data-testid={testId}
      data-points={points}
      role="figure"
      aria-label={`${label}: ${points} time buckets with requests`}
    />
  );
}
