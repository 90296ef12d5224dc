/** The time-window choice of the Graph and Metrics views: 1m, 5m, 15m, 1h as a row of toggle buttons. */
import { WINDOWS } from '../lib/metrics.js';

export function WindowPicker({
  value,
  onChange,
  testId
}: {
  value: number;
  onChange: (sec: number) => void;
  testId: string;
}) {
  return (
    <div className="window-picker" role="group" aria-label="Time window" data-testid={testId} data-value={value}>
      {WINDOWS.map((w) => (
        <button
          key={w.sec}
          type="button"
          className="window-picker-item"
          data-testid={`${testId}-${w.label}`}
          aria-pressed={value === w.sec}
          title={`The last ${w.long}`}
          onClick={() => onChange(w.sec)}
        >
          {w.label}
        </button>
      ))}
    </div>
  );
}
