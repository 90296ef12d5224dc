// bookinfo "reviews" service, one file for all three versions (SERVICE_VERSION = v1 | v2 | v3):
//   v1: no ratings;  v2: calls ratings, black stars;  v3: calls ratings, red stars.
// Like Istio's Java reviews app, v2 waits up to 10 s for ratings and v3 only 2.5 s.
import http from 'node:http';

const PORT = Number(process.env.PORT ?? 9080);
const HOST = process.env.HOST ?? '127.0.0.1';
const VERSION = process.env.SERVICE_VERSION ?? 'v1';
const RATINGS_URL = (process.env.RATINGS_URL ?? 'http://ratings:9080').replace(/\/$/, '');
const RATINGS_ENABLED = VERSION !== 'v1';
const STAR_COLOR = VERSION === 'v3' ? 'red' : 'black';
const RATINGS_TIMEOUT_MS = VERSION === 'v3' ? 2500 : 10_000;

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!' },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.'
  }
];

/** Headers an app must copy from its incoming request to its outgoing calls (Istio tracing and routing). */
const PROPAGATED = ['x-request-id', 'end-user', 'user-agent', 'cookie', 'traceparent', 'tracestate', 'b3'];

function propagatedHeaders(incoming) {
  const out = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && (PROPAGATED.includes(name) || name.startsWith('x-b3-'))) out[name] = String(value);
  }
  return out;
}

/** The ratings of the reviewers, or null when the ratings service fails. */
async function fetchRatings(id, headers) {
  try {
    const res = await fetch(`${RATINGS_URL}/ratings/${id}`, {
      headers,
      signal: AbortSignal.timeout(RATINGS_TIMEOUT_MS)
    });
    if (res.status !== 200) return null;
    return (await res.json()).ratings ?? null;
  } catch {
    return null;
  }
}

async function reviewsFor(id, headers) {
  const ratings = RATINGS_ENABLED ? await fetchRatings(id, headers) : null;
  const reviews = REVIEWS.map((review) => {
    if (!RATINGS_ENABLED) return review;
    const stars = ratings?.[review.reviewer];
    const rating =
      typeof stars === 'number' ? { stars, color: STAR_COLOR } : { error: 'Ratings service is currently unavailable' };
    return { ...review, rating };
  });
  return { id: String(id), version: VERSION, reviews };
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/reviews\/([^/]+)$/.exec(pathname);
  if (req.method === 'GET' && pathname === '/health') return send(res, 200, { status: 'Reviews is healthy' });
  if (req.method !== 'GET' || !match) return send(res, 404, { error: 'not found' });
  const id = Number(match[1]);
  if (!Number.isInteger(id)) return send(res, 400, { error: 'please provide numeric product id' });
  send(res, 200, await reviewsFor(id, propagatedHeaders(req.headers)));
});

server.listen(PORT, HOST, () => console.log(`reviews ${VERSION} listening on ${PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
