/**
 * The bookinfo example's services (resources/examples/bookinfo), started directly with node and wired
 * to each other by URL, without the mesh: they must work on their own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadPort } from './helpers/harness.js';

const EXAMPLE = fileURLToPath(new URL('../../resources/examples/bookinfo/', import.meta.url));

const children: ChildProcess[] = [];
const servers: http.Server[] = [];

/** A port that was free a moment ago (listen on 0, read it, close). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Start one example service and wait until its /health answers (bounded number of tries). */
async function startService(service: string, env: Record<string, string> = {}): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['server.mjs'], {
    cwd: `${EXAMPLE}${service}`,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${base}/health`)).status === 200) return base;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${service} did not become healthy on ${base}:\n${output}`);
}

/** An in-test stand-in for a downstream service that records the headers it receives. */
async function stub(body: unknown, status = 200): Promise<{ url: string; seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

interface Rating {
  stars?: number;
  color?: string;
  error?: string;
}
interface Reviews {
  id: string;
  version: string;
  reviews: { reviewer: string; text: string; rating?: Rating }[];
}

async function getJson<T = Record<string, unknown>>(
  url: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as T };
}

const urls: Record<string, string> = {};

beforeAll(async () => {
  urls.details = await startService('details');
  urls.ratings = await startService('ratings');
  const dead = await deadPort(); // nothing listens here: a ratings service that is down
  [urls.reviewsV1, urls.reviewsV2, urls.reviewsV3, urls.reviewsV3NoRatings] = await Promise.all([
    startService('reviews', { SERVICE_VERSION: 'v1', RATINGS_URL: urls.ratings }),
    startService('reviews', { SERVICE_VERSION: 'v2', RATINGS_URL: urls.ratings }),
    startService('reviews', { SERVICE_VERSION: 'v3', RATINGS_URL: urls.ratings }),
    startService('reviews', { SERVICE_VERSION: 'v3', RATINGS_URL: `http://127.0.0.1:${dead}` })
  ]);
  urls.productpage = await startService('productpage', { DETAILS_URL: urls.details, REVIEWS_URL: urls.reviewsV2 });
});

afterAll(async () => {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        })
    )
  );
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

describe('bookinfo example services', () => {
  it('details serves the book', async () => {
    const { status, body } = await getJson(`${urls.details}/details/0`);
    expect(status).toBe(200);
    expect(body).toEqual({
      id: 0,
      author: 'William Shakespeare',
      year: 1595,
      type: 'paperback',
      pages: 200,
      publisher: 'PublisherA',
      language: 'English',
      'ISBN-10': '1234567890',
      'ISBN-13': '123-1234567890'
    });
  });

  it('ratings serves the two ratings', async () => {
    expect(await getJson(`${urls.ratings}/ratings/0`)).toEqual({
      status: 200,
      body: { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } }
    });
  });

  it('reviews v1 has no ratings, v2 black stars, v3 red stars', async () => {
    const v1 = (await getJson<Reviews>(`${urls.reviewsV1}/reviews/0`)).body;
    expect(v1.version).toBe('v1');
    expect(v1.reviews.map((r) => r.reviewer)).toEqual(['Reviewer1', 'Reviewer2']);
    expect(v1.reviews.every((r) => r.rating === undefined)).toBe(true);

    const v2 = (await getJson<Reviews>(`${urls.reviewsV2}/reviews/0`)).body;
    expect(v2.version).toBe('v2');
    expect(v2.reviews.map((r) => r.rating)).toEqual([
      { stars: 5, color: 'black' },
      { stars: 4, color: 'black' }
    ]);

    const v3 = (await getJson<Reviews>(`${urls.reviewsV3}/reviews/0`)).body;
    expect(v3.reviews[0]?.rating).toEqual({ stars: 5, color: 'red' });
  });

  it('reviews reports ratings as unavailable when ratings is down', async () => {
    const { status, body } = await getJson<Reviews>(`${urls.reviewsV3NoRatings}/reviews/0`);
    expect(status).toBe(200);
    expect(body.reviews.map((r) => r.rating)).toEqual([
      { error: 'Ratings service is currently unavailable' },
      { error: 'Ratings service is currently unavailable' }
    ]);
  });

  it('productpage combines details and reviews (with ratings from reviews v2)', async () => {
    const { status, body } = await getJson<{ details: unknown; reviews: Reviews }>(
      `${urls.productpage}/api/v1/products/0`
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 0, detailsStatus: 200, reviewsStatus: 200 });
    expect(body.details).toMatchObject({ author: 'William Shakespeare', 'ISBN-10': '1234567890' });
    expect(body.reviews.version).toBe('v2');
    expect(body.reviews.reviews[1]).toMatchObject({ reviewer: 'Reviewer2', rating: { stars: 4, color: 'black' } });

    const page = await fetch(`${urls.productpage}/productpage`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('The Comedy of Errors');
    expect(html).toContain('PublisherA');
    expect(html).toContain('An extremely entertaining play by Shakespeare.');
  });

  it('productpage propagates the tracing and routing headers to details and reviews', async () => {
    const details = await stub({ id: 0, author: 'William Shakespeare' });
    const reviews = await stub({ id: '0', version: 'v1', reviews: [] });
    const productpage = await startService('productpage', { DETAILS_URL: details.url, REVIEWS_URL: reviews.url });
    const propagated = {
      'x-request-id': 'req-123',
      'end-user': 'jason',
      'user-agent': 'example-test',
      cookie: 'session=abc',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=1',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '1'
    };
    const sent = { ...propagated, 'x-unrelated': 'not propagated' };
    expect((await getJson(`${productpage}/api/v1/products/0`, sent)).status).toBe(200);
    for (const seen of [details.seen[0], reviews.seen[0]]) {
      expect(seen).toMatchObject(propagated);
      expect(seen?.['x-unrelated']).toBeUndefined();
    }
  });

  it('productpage shows bookinfo’s messages and the status when a downstream fails', async () => {
    const details = await stub({ error: 'boom' }, 503);
    const reviews = await stub({ error: 'boom' }, 503);
    const productpage = await startService('productpage', { DETAILS_URL: details.url, REVIEWS_URL: reviews.url });
    const { body } = await getJson(`${productpage}/api/v1/products/0`);
    expect(body).toMatchObject({
      details: { error: 'Sorry, product details are currently unavailable for this book.' },
      detailsStatus: 503,
      reviews: { error: 'Sorry, product reviews are currently unavailable for this book.' },
      reviewsStatus: 503
    });
    expect(reviews.seen).toHaveLength(2); // reviews is tried twice, like bookinfo
    const html = await (await fetch(`${productpage}/productpage`)).text();
    expect(html).toContain('Sorry, product reviews are currently unavailable for this book.');
    expect(html).toContain('status 503');
  });
});
