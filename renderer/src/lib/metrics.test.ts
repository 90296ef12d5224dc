import { describe, expect, it } from 'vitest';
import { formatRate } from './format.js';
import { tickLabels } from './metrics.js';

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
