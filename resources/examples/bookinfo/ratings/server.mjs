// bookinfo "ratings" service: the star ratings of the two reviewers (like Istio's Node ratings app).
import http from 'node:http';

const PORT = Number(process.env.PORT ?? 9080);
const HOST = process.env.HOST ?? '127.0.0.1';
const VERSION = process.env.SERVICE_VERSION ?? 'v1';

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/ratings\/([^/]+)$/.exec(pathname);
  if (req.method === 'GET' && pathname === '/health') send(res, 200, { status: 'Ratings is healthy' });
  else if (req.method === 'GET' && match) {
    const id = Number(match[1]);
    if (Number.isInteger(id)) send(res, 200, { id, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    else send(res, 400, { error: 'please provide numeric product ID' });
  } else send(res, 404, { error: 'not found' });
});

server.listen(PORT, HOST, () => console.log(`ratings ${VERSION} listening on ${PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
