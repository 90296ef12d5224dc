/**
 * An app on a raw socket that records each request's header lines exactly as they arrived (node:http's server would
 * join repeated fields), keyed by request path, and answers every request 200 "ok" on a keep-alive connection, with
 * the header lines `extraHeaders` gives for its path written as they are (a field repeated on several lines). For
 * requests without a body.
 */
import net from 'node:net';

export interface RawApp {
  address: string;
  /** The header lines (request line and blank line left out) of the last request for each path. */
  heads: Map<string, string[]>;
  close(): Promise<void>;
}

export async function rawApp(extraHeaders: (path: string) => string[] = () => []): Promise<RawApp> {
  const heads = new Map<string, string[]>();
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('error', () => sock.destroy());
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const [first, ...lines] = buf.slice(0, end).split('\r\n');
        buf = buf.slice(end + 4);
        const path = first!.split(' ')[1]!;
        heads.set(path, lines);
        const extra = extraHeaders(path)
          .map((l) => `${l}\r\n`)
          .join('');
        sock.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n${extra}content-length: 2\r\n\r\nok`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    heads,
    close: () => new Promise((r) => server.close(() => r()))
  };
}

/** One request written as `lines` (request line and header lines) on a new connection; the response's status. */
export async function sendLines(port: number, lines: string[]): Promise<number> {
  return (await exchangeLines(port, lines)).status;
}

/**
 * One request written as `lines` on a new connection: the response's status and its header lines exactly as they
 * came (status line and blank line left out).
 */
export function exchangeLines(port: number, lines: string[]): Promise<{ status: number; headerLines: string[] }> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      const head = got.slice(0, Math.max(0, got.indexOf('\r\n\r\n')));
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0),
        headerLines: head.split('\r\n').slice(1)
      });
    });
  });
}
