/**
 * `edgemq status`: a running broker's state read from its admin API, printed as tables (or the
 * raw JSON with --json): readiness, counters, listeners, resources with their runtime status,
 * clients and sessions.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { SessionInfo } from '../core/broker-core.js';
import type { ClientInfo } from '../frontend/frontend.js';
import type { StatusDocument } from '../admin/status-document.js';

type StatusDoc = StatusDocument;
type ClientDoc = ClientInfo;
type SessionDoc = SessionInfo;

export async function runStatus(args: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:9601' },
      'token-file': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const base = values.url!.replace(/\/+$/, '');
  let token = process.env.EDGEMQ_ADMIN_TOKEN;
  if (values['token-file'] !== undefined) {
    try {
      token = readFileSync(values['token-file'], 'utf8').trim();
    } catch (err) {
      throw new Error(`--token-file: cannot read ${values['token-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const get = async <T>(route: string): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/${route}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach the admin API at ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new Error(`admin API ${base}/api/v1/${route}: HTTP ${res.status}: ${body.error ?? res.statusText}`);
    return body as T;
  };
  const [status, clients, sessions] = await Promise.all([get<StatusDoc>('status'), get<ClientDoc[]>('clients'), get<SessionDoc[]>('sessions')]);
  if (values.json) {
    out(`${JSON.stringify({ status, clients, sessions }, null, 2)}\n`);
    return;
  }
  out(renderStatus(status, clients, sessions));
}

export function renderStatus(status: StatusDoc, clients: ClientDoc[], sessions: SessionDoc[]): string {
  const s = status.stats;
  const lines: string[] = [];
  lines.push(
    `broker ${status.broker} (edgemq ${status.version}), up ${status.uptimeSeconds} s, ${status.ready ? 'ready' : `NOT READY (${status.pending.join(', ')})`}`,
  );
  lines.push(
    `sessions ${s.sessions ?? 0} (${s.connected ?? 0} connected), subscriptions ${s.subscriptions ?? 0}, retained ${s.retained ?? 0}, ` +
      `received ${s.messagesReceived ?? 0}, sent ${s.messagesSent ?? 0}, dropped ${s.messagesDropped ?? 0}, queued ${s.queued ?? 0}, inflight ${s.inflight ?? 0}`,
  );
  if (status.selfCheck) {
    const sc = status.selfCheck;
    const lat = Object.entries(sc.latencyMs).map(([k, v]) => `${k} ${v} ms`).join(', ');
    lines.push(`self-check ${sc.ok ? 'passed' : `FAILED: ${sc.error ?? ''}`}${lat ? ` (${lat})` : ''}`);
  }
  lines.push('', table(['LISTENER', 'PORT', 'PROTOCOL', 'TLS', 'OPEN'], status.listeners.map((l) => [l.name, String(l.port), l.protocol, yes(l.tls), yes(l.open)])));
  lines.push('', table(['KIND', 'NAME', 'STATUS', 'DESCRIPTION'], status.resources.map((r) => [r.kind, r.name, r.status, r.description])));
  lines.push(
    '',
    table(
      ['CLIENT', 'LISTENER', 'REMOTE', 'MQTT', 'USER', 'CONNECTED'],
      clients.map((c) => [c.clientId || '(connecting)', c.listener, c.remoteAddress, c.protocolVersion === 5 ? '5.0' : '3.1.1', c.username ?? '', new Date(c.since).toISOString()]),
    ),
  );
  lines.push(
    '',
    table(
      ['SESSION', 'ONLINE', 'SUBSCRIPTIONS', 'QUEUED', 'INFLIGHT'],
      sessions.map((x) => [x.clientId, yes(x.online), x.subscriptions.map((f) => `${f.filter} (${f.qos})`).join(' ') || '-', String(x.queued), String(x.inflight)]),
    ),
  );
  return `${lines.join('\n')}\n`;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return `${head.join('  ')}\n(none)`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
