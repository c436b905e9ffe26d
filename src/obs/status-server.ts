/**
 * The status HTTP server (node:http, 127.0.0.1 by default): `/status` JSON, `/metrics` Prometheus
 * text, `/` a tiny page that polls /status. Read-only; it never exposes config values (URLs could
 * hold passwords). With a `token` every route first asks for `Authorization: Bearer <token>` (401
 * otherwise): the CLI requires one off loopback.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ReplicantError } from '../errors.js';

export interface StatusServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export interface StatusServerOptions {
  host: string;
  port: number;
  status: () => unknown;
  registry: Registry;
  /** When set: every request must carry `Authorization: Bearer <token>`. */
  token?: string | null;
}

/** Constant-time compare, so the token cannot be guessed byte by byte from response times. */
function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>replicant</title>
<style>body{font:14px monospace;margin:2em}pre{white-space:pre-wrap}</style>
<h1>replicant</h1><pre id="s">loading…</pre><p><a href="/metrics">/metrics</a> · <a href="/status">/status</a></p>
<script>async function t(){try{const r=await fetch('/status');document.getElementById('s').textContent=JSON.stringify(await r.json(),null,2)}catch(e){document.getElementById('s').textContent=String(e)}}t();setInterval(t,1000)</script>`;

export function startStatusServer(o: StatusServerOptions): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    if (o.token && !tokenMatches(req.headers.authorization, o.token)) {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="replicant"' })
        .end('unauthorized: send Authorization: Bearer <the --status-token>\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(o.status())}\n`);
    } else if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      );
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status or /metrics\n');
    }
  });
  // Keep-alive scrapers must not hold the process open at exit.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ReplicantError(
          'ERR_STATUS_LISTEN',
          `cannot serve status on ${o.host}:${o.port}: ${err.message}`,
          {
            hint: 'pick another --status-port (0 = any free port) or --status-host',
            cause: err,
          },
        ),
      ),
    );
    server.listen(o.port, o.host, () => {
      const port = (server.address() as AddressInfo).port;
      const host = o.host.includes(':') ? `[${o.host}]` : o.host;
      resolve({
        port,
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
