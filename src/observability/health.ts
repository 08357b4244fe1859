/**
 * Liveness and readiness, and the HTTP server of the metrics port (Azure's 9600): `/metrics`
 * (Prometheus text), `/healthz` (the process lives and answers) and `/readyz` (every readiness
 * condition holds: state recovered, listeners open; on a cluster, partitions reachable). The Helm
 * chart points the pod's liveness and readiness probes here.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { closeServer, listenOn } from '../util/http-listen.js';

/**
 * A check evaluated on every probe: true when met; false, or a string saying what is missing, when
 * not (reported as `name: why`, e.g. "partitions reachable: partition 1 (backend-1)").
 */
export type ReadinessCheck = () => boolean | string;

/**
 * Named conditions, each false until its owner says otherwise; a condition may also be a check
 * evaluated on every probe (e.g. "the listeners are still listening").
 */
export class Readiness {
  private readonly conditions = new Map<string, boolean | ReadinessCheck>();

  /** Declares a condition (not met yet), so /readyz names what it waits for from the start. */
  expect(name: string): void {
    if (!this.conditions.has(name)) this.conditions.set(name, false);
  }

  set(name: string, value: boolean | ReadinessCheck): void {
    this.conditions.set(name, value);
  }

  /** Conditions not met right now, in declaration order (with what is missing, where the check says). */
  pending(): string[] {
    const out: string[] = [];
    for (const [name, v] of this.conditions) {
      const met = typeof v === 'function' ? safe(v) : v;
      if (met === true) continue;
      out.push(typeof met === 'string' && met !== '' ? `${name}: ${met}` : name);
    }
    return out;
  }

  get ready(): boolean {
    return this.conditions.size > 0 && this.pending().length === 0;
  }
}

function safe(check: ReadinessCheck): boolean | string {
  try {
    return check();
  } catch {
    return false;
  }
}

export interface OpsServerOptions {
  host: string;
  port: number;
  readiness: Readiness;
  /** Prometheus text and its content type; absent until the broker's metrics exist. */
  metrics?: () => { scrape(): Promise<string>; contentType: string } | undefined;
  log: Logger;
  /** What chose the port, named in a bind error (default: the Broker resource's field). */
  field?: string;
}

export class OpsServer {
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly o: OpsServerOptions) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.port = await listenOn(server, this.o.host, this.o.port, this.o.field ?? 'Broker spec.diagnostics.metrics.prometheusPort');
    this.server = server;
    this.o.log.info({ host: this.o.host, port: this.port }, 'metrics and health probes listening');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n', { allow: 'GET, HEAD' });
    if (url === '/healthz' || url === '/livez') return send(res, 200, 'text/plain', 'ok\n');
    if (url === '/readyz') {
      const pending = this.o.readiness.pending();
      if (this.o.readiness.ready) return send(res, 200, 'text/plain', 'ready\n');
      return send(res, 503, 'text/plain', `not ready: ${pending.length > 0 ? pending.join(', ') : 'starting'}\n`);
    }
    if (url === '/metrics') {
      const m = this.o.metrics?.();
      if (!m) return send(res, 503, 'text/plain', 'metrics not available yet: the broker is starting\n');
      try {
        return send(res, 200, m.contentType, await m.scrape());
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'metrics scrape failed');
        return send(res, 500, 'text/plain', `metrics scrape failed: ${(err as Error).message}\n`);
      }
    }
    send(res, 404, 'text/plain', 'not found: this port serves /metrics, /healthz and /readyz\n');
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await closeServer(s);
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}
