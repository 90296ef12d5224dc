// bookinfo "productpage" service: the front page. Calls details and reviews (like Istio's Python
// productpage: 3 s timeout per call, reviews tried twice) and propagates the tracing/routing headers.
import http from 'node:http';

const PORT = Number(process.env.PORT ?? 9080);
const HOST = process.env.HOST ?? '127.0.0.1';
const DETAILS_URL = (process.env.DETAILS_URL ?? 'http://details:9080').replace(/\/$/, '');
const REVIEWS_URL = (process.env.REVIEWS_URL ?? 'http://reviews:9080').replace(/\/$/, '');
const TIMEOUT_MS = 3000;

const PRODUCTS = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of ' +
      "<b>William Shakespeare's</b> early plays. It is his shortest and one of his most farcical comedies, with a major part " +
      'of the humour coming from slapstick and mistaken identity, in addition to puns and word play.'
  }
];

/** Headers an app must copy from its incoming request to its outgoing calls (Istio tracing and routing). */
const PROPAGATED = ['x-request-id', 'end-user', 'user-agent', 'cookie', 'traceparent', 'tracestate', 'b3'];

function propagatedHeaders(req, query) {
  const out = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && (PROPAGATED.includes(name) || name.startsWith('x-b3-'))) out[name] = String(value);
  }
  // Browser demo: /productpage?user=jason acts as "signed in as jason" (bookinfo derives end-user from its login).
  const user = query.get('user');
  if (user && !out['end-user']) out['end-user'] = user;
  return out;
}

/** GET a downstream JSON document; {status, body} with status 500 when the call itself failed. */
async function getJson(url, headers) {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (e.g. an Envoy-style "fault filter abort" body).
    }
    return { status: res.status, body };
  } catch (err) {
    return { status: 500, body: null, error: err instanceof Error ? err.message : String(err) };
  }
}

async function getProductDetails(id, headers) {
  const res = await getJson(`${DETAILS_URL}/details/${id}`, headers);
  if (res.status === 200) return res;
  return { status: res.status, body: { error: 'Sorry, product details are currently unavailable for this book.' } };
}

async function getProductReviews(id, headers) {
  let res;
  for (let attempt = 0; attempt < 2; attempt++) {
    res = await getJson(`${REVIEWS_URL}/reviews/${id}`, headers);
    if (res.status === 200) return res;
  }
  return { status: res.status, body: { error: 'Sorry, product reviews are currently unavailable for this book.' } };
}

async function product(id, headers) {
  const [details, reviews] = await Promise.all([getProductDetails(id, headers), getProductReviews(id, headers)]);
  return {
    id,
    title: PRODUCTS[0].title,
    details: details.body,
    detailsStatus: details.status,
    reviews: reviews.body,
    reviewsStatus: reviews.status
  };
}

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function renderStars(rating) {
  if (!rating) return '';
  if (rating.error) return `<p class="error">${escapeHtml(rating.error)}</p>`;
  const full = '★'.repeat(rating.stars);
  const empty = '☆'.repeat(Math.max(0, 5 - rating.stars));
  return `<p style="color:${rating.color === 'red' ? 'red' : 'black'}">${full}${empty}</p>`;
}

function renderPage(p, user) {
  const details = p.details?.error
    ? `<h4>Error fetching product details! (status ${p.detailsStatus})</h4><p>${escapeHtml(p.details.error)}</p>`
    : `<h4>Book Details</h4><dl>${Object.entries(p.details)
        .filter(([k]) => k !== 'id')
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
        .join('')}</dl>`;
  const reviews = p.reviews?.error
    ? `<h4>Error fetching product reviews! (status ${p.reviewsStatus})</h4><p>${escapeHtml(p.reviews.error)}</p>`
    : `<h4>Book Reviews <small>(reviews-${escapeHtml(p.reviews.version)})</small></h4>${p.reviews.reviews
        .map(
          (r) =>
            `<blockquote><p>${escapeHtml(r.text)}</p><small>${escapeHtml(r.reviewer)}</small>${renderStars(r.rating)}</blockquote>`
        )
        .join('')}`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Simple Bookstore App</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}.cols{display:flex;gap:3em}.cols>div{flex:1}.error{color:#a00}</style>
</head><body>
<p>BookInfo Sample · ${user ? `signed in as <b>${escapeHtml(user)}</b> · <a href="/productpage">sign out</a>` : '<a href="/productpage?user=jason">sign in as jason</a>'}</p>
<h2>${escapeHtml(p.title)}</h2>
<p>${PRODUCTS[0].descriptionHtml}</p>
<div class="cols"><div>${details}</div><div>${reviews}</div></div>
</body></html>`;
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
  if (path === '/health') return sendJson(res, 200, { status: 'Product page is healthy' });
  if (path === '/') {
    res.writeHead(302, { location: '/productpage' });
    return res.end();
  }
  const headers = propagatedHeaders(req, url.searchParams);
  if (path === '/productpage') {
    const page = renderPage(await product(0, headers), headers['end-user']);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(page);
  }
  if (path === '/api/v1/products') return sendJson(res, 200, PRODUCTS);
  const match = /^\/api\/v1\/products\/([^/]+)$/.exec(path);
  if (match) {
    const id = Number(match[1]);
    if (!Number.isInteger(id)) return sendJson(res, 400, { error: 'please provide numeric product id' });
    return sendJson(res, 200, await product(id, headers));
  }
  sendJson(res, 404, { error: 'not found' });
});

server.listen(PORT, HOST, () => console.log(`productpage listening on ${PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
