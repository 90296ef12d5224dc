import { describe, expect, it } from 'vitest';
import { formatRate } from './format.js';
import { tickLabels, timeTickLabels, timeValue } from './metrics.js';

describe('tickLabels', () => {
  it('tells apart the ticks of a quiet service (the summary format reads "<0.1" for each)', () => {
    const splits = [0, 0.02, 0.04, 0.06000000000000001];
    expect(splits.map(formatRate)).toEqual(['0', '<0.1', '<0.1', '<0.1']);
    expect(tickLabels(splits)).toEqual(['0', '0.02', '0.04', '0.06']);
  });

  it('uses the decimals the spacing needs, and no more', () => {
    expect(tickLabels([0, 0.25, 0.5, 0.75])).toEqual(['0', '0.25', '0.5', '0.75']);
    expect(tickLabels([0, 0.5, 1, 1.5], '%')).toEqual(['0%', '0.5%', '1%', '1.5%']);
    expect(tickLabels([0, 50, 100, 150])).toEqual(['0', '50', '100', '150']);
    expect(tickLabels([])).toEqual([]);
  });
});

describe('timeTickLabels', () => {
  const at = (day: number, h: number, m: number, sec = 0): number =>
    new Date(2026, 10, day, h, m, sec).getTime() / 1000;

  it('shows the time only, in 24 h, while the window stays within one day (uPlot put the date under the first tick)', () => {
    expect(timeTickLabels([at(25, 14, 0), at(25, 14, 5), at(25, 14, 10)], 300)).toEqual(['14:00', '14:05', '14:10']);
  });

  it('adds the seconds when the ticks are less than a minute apart', () => {
    expect(timeTickLabels([at(25, 9, 4, 0), at(25, 9, 4, 20), at(25, 9, 4, 40)], 20)).toEqual([
      '09:04:00',
      '09:04:20',
      '09:04:40'
    ]);
  });

  it('dates the first tick and the first of the next day when the window crosses midnight', () => {
    expect(timeTickLabels([at(25, 23, 50), at(25, 23, 55), at(26, 0, 0), at(26, 0, 5)], 300)).toEqual([
      '23:50\n2026-11-25',
      '23:55',
      '00:00\n2026-11-26',
      '00:05'
    ]);
    expect(timeTickLabels([], 60)).toEqual([]);
  });

  it('gives the whole date and time for the hover legend', () => {
    expect(timeValue(at(25, 14, 5, 7))).toBe('2026-11-25 14:05:07');
  });
});
