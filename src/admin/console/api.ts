import type { StatusDocument } from '../status-document.js';

/** The admin API as the console uses it; the bearer token is kept for the browser tab only. */
export interface Client {
  clientId: string;
  connected: boolean;
  listener: string;
  remoteAddress: string;
  protocolVersion: number;
  username?: string;
  since: number;
}
export interface Session {
  clientId: string;
  online: boolean;
  subscriptions: Array<{ filter: string; qos: number }>;
  queued: number;
  inflight: number;
}
export type Status = StatusDocument;
export interface Resource {
  kind: string;
  metadata: { name: string };
  status: { runtimeStatus: { status: string; description: string } };
}
export interface MetricJson {
  name: string;
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

const TOKEN_KEY = 'edgemq-admin-token';

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}
export function setToken(t: string): void {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, route: string): Promise<T> {
  const token = getToken();
  const res = await fetch(`api/v1/${route}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    throw new HttpError(res.status, body.error ?? res.statusText);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const api = {
  status: () => call<Status>('GET', 'status'),
  clients: () => call<Client[]>('GET', 'clients'),
  sessions: () => call<Session[]>('GET', 'sessions'),
  resources: () => call<Resource[]>('GET', 'resources'),
  metrics: () => call<MetricJson[]>('GET', 'metrics'),
  disconnect: (clientId: string) => call<void>('DELETE', `clients/${encodeURIComponent(clientId)}`),
};

/** Sum of a metric's plain series (no `_bucket` and such), 0 when absent. */
export function metricValue(metrics: MetricJson[], name: string, metricName?: string): number {
  const m = metrics.find((x) => x.name === name);
  if (!m) return 0;
  return m.values.filter((v) => (metricName ? v.metricName === metricName : v.metricName === undefined || v.metricName === name)).reduce((a, v) => a + v.value, 0);
}
