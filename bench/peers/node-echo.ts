/**
 * The ceiling for a Node codec server: a bare node:http server that reads the body, JSON.parse, JSON.stringify and
 * answers 200 with it. No routing, no limits, no logging, no metrics, no crypto. The benchmark divides our server's
 * throughput by this one's on the same cores.
 *
 *   node --import tsx bench/peers/node-echo.ts --port 8891 [--workers 2]
 *
 * With --workers N > 1 it forks N node:cluster workers (as `temporal-codec serve --workers N` does). It prints one
 * line "listening <port>" once every worker listens, and stops on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isInteger(value) && value >= 0 ? value : fallback;
}

const port = option('port', 8891);
const workers = option('workers', 1);

if (workers > 1 && cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`listening ${port}`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  const stop = (): void => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let text: string;
      try {
        text = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"invalid json"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 5_000;
  server.listen(port, '127.0.0.1', () => {
    if (!cluster.isWorker) console.log(`listening ${port}`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
