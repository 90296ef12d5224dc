// bookinfo "details" service: the book's publication details (like Istio's Ruby details app).
import http from 'node:http';

const PORT = Number(process.env.PORT ?? 9080);
const HOST = process.env.HOST ?? '127.0.0.1';
const VERSION = process.env.SERVICE_VERSION ?? 'v1';

function bookDetails(id) {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890'
  };
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/details\/([^/]+)$/.exec(pathname);
  if (req.method === 'GET' && pathname === '/health') send(res, 200, { status: 'Details is healthy' });
  else if (req.method === 'GET' && match) {
    const id = Number(match[1]);
    if (Number.isInteger(id)) send(res, 200, bookDetails(id));
    else send(res, 400, { error: 'please provide numeric product id' });
  } else send(res, 404, { error: 'not found' });
});

server.listen(PORT, HOST, () => console.log(`details ${VERSION} listening on ${PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
