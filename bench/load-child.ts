/**
 * A load client in a process of its own (it must not share an event loop with a proxy or the upstream). Runs one
 * LoadSpec per `run` message, tells the parent when the measured window starts and ends and waits for its `ack`
 * (so the parent reads the proxy's CPU time around exactly that window), then sends the LoadResult.
 */
import { closedLoop, openLoop, type LoadSpec } from './load.js';

const send = (m: object) =>
  new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

const acks: Array<() => void> = [];
const onPhase = async (phase: string) => {
  const acked = new Promise<void>((r) => acks.push(r));
  await send({ type: 'phase', phase });
  await acked;
};

async function run(spec: LoadSpec): Promise<void> {
  try {
    const result = spec.mode === 'closed' ? await closedLoop(spec, onPhase) : await openLoop(spec, onPhase);
    await send({ type: 'result', result });
  } catch (e) {
    await send({ type: 'error', message: (e as Error).stack ?? String(e) });
  }
}

process.on('message', (m: { type?: string; spec?: LoadSpec }) => {
  if (m?.type === 'ack') acks.shift()?.();
  else if (m?.type === 'run' && m.spec) void run(m.spec);
  else if (m?.type === 'close') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
void send({ type: 'ready' });
