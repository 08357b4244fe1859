/**
 * The edgemq web console: one page with the broker's state, polled from the admin API every second
 * (clients, sessions, resources with their status) and charts fed by the Prometheus metrics
 * (throughput from the publish counters, latency from the self-check probe).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, getToken, HttpError, metricValue, setToken, type Client, type Resource, type Session, type Status } from './api.js';
import { LineChart, formatNumber } from './chart.js';
import './style.css';

const POLL_MS = 1000;
const HISTORY = 60;

interface Sample {
  at: number;
  received: number;
  sent: number;
  latencyMs: number;
}

function App() {
  const [status, setStatus] = useState<Status>();
  const [clients, setClients] = useState<Client[]>([]);
  const [sessions, setSessions] = useState<Session[]>([]);
  const [resources, setResources] = useState<Resource[]>([]);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string>();
  const [needToken, setNeedToken] = useState(false);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let alive = true;
    const poll = async () => {
      try {
        const [s, c, ss, r, m] = await Promise.all([api.status(), api.clients(), api.sessions(), api.resources(), api.metrics()]);
        if (!alive) return;
        setStatus(s);
        setClients(c);
        setSessions(ss);
        setResources(r);
        const sample: Sample = {
          at: Date.now(),
          received: metricValue(m, 'aio_broker_publishes_received'),
          sent: metricValue(m, 'aio_broker_publishes_sent'),
          latencyMs: metricValue(m, 'aio_broker_publish_latency_last_value_ms'),
        };
        setSamples((prev) => [...prev, sample].slice(-(HISTORY + 1)));
        setError(undefined);
        setNeedToken(false);
      } catch (err) {
        if (!alive) return;
        if (err instanceof HttpError && err.status === 401) setNeedToken(true);
        setError((err as Error).message);
      }
    };
    void poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, [tick]);

  const rates = samples.slice(1).map((s, i) => {
    const prev = samples[i]!;
    const dt = Math.max(0.001, (s.at - prev.at) / 1000);
    return { in: Math.max(0, (s.received - prev.received) / dt), out: Math.max(0, (s.sent - prev.sent) / dt), latency: s.latencyMs };
  });

  const disconnect = async (clientId: string) => {
    try {
      await api.disconnect(clientId);
      setClients((cs) => cs.filter((c) => c.clientId !== clientId));
    } catch (err) {
      setError(`disconnect ${clientId}: ${(err as Error).message}`);
    }
  };

  return (
    <main>
      <header>
        <h1>edgemq</h1>
        {status && (
          <span class="broker">
            broker <b>{status.broker}</b> · v{status.version} · up {status.uptimeSeconds} s ·{' '}
            <span class={status.ready ? 'ok' : 'bad'} data-testid="readiness">
              {status.ready ? 'ready' : `not ready: ${status.pending.join(', ')}`}
            </span>
          </span>
        )}
      </header>
      {needToken && <TokenForm onSave={() => setTick((t) => t + 1)} />}
      {error && !needToken && <p class="error">{error}</p>}
      {status && (
        <section class="cards">
          <Card label="connections" value={status.connections} />
          <Card label="sessions" value={status.stats.sessions ?? 0} />
          <Card label="subscriptions" value={status.stats.subscriptions ?? 0} />
          <Card label="retained" value={status.stats.retained ?? 0} />
          <Card label="queued" value={status.stats.queued ?? 0} />
          <Card label="dropped" value={status.stats.messagesDropped ?? 0} />
        </section>
      )}
      <section class="charts">
        <LineChart
          title="Throughput"
          unit="msg/s"
          series={[
            { label: 'in', color: '#2563eb', points: rates.map((r) => r.in) },
            { label: 'out', color: '#16a34a', points: rates.map((r) => r.out) },
          ]}
        />
        <LineChart title="Self-check publish → delivery" unit="ms" series={[{ label: 'latency', color: '#d97706', points: rates.map((r) => r.latency) }]} />
      </section>
      <h2>Clients ({clients.length})</h2>
      <table data-testid="clients">
        <thead>
          <tr>
            <th>client id</th>
            <th>listener</th>
            <th>remote</th>
            <th>MQTT</th>
            <th>user</th>
            <th>since</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {clients.map((c) => (
            <tr key={`${c.clientId}-${c.since}`} data-client={c.clientId}>
              <td>{c.clientId || '(connecting)'}</td>
              <td>{c.listener}</td>
              <td>{c.remoteAddress}</td>
              <td>{c.protocolVersion === 5 ? '5.0' : '3.1.1'}</td>
              <td>{c.username ?? ''}</td>
              <td>{new Date(c.since).toLocaleTimeString()}</td>
              <td>
                {c.connected && (
                  <button type="button" onClick={() => void disconnect(c.clientId)} aria-label={`disconnect ${c.clientId}`}>
                    Disconnect
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Sessions ({sessions.length})</h2>
      <table data-testid="sessions">
        <thead>
          <tr>
            <th>client id</th>
            <th>online</th>
            <th>subscriptions</th>
            <th>queued</th>
            <th>inflight</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.clientId}>
              <td>{s.clientId}</td>
              <td>{s.online ? 'yes' : 'no'}</td>
              <td>{s.subscriptions.map((f) => `${f.filter} (QoS ${f.qos})`).join(', ') || '–'}</td>
              <td>{s.queued}</td>
              <td>{s.inflight}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Resources</h2>
      <table data-testid="resources">
        <thead>
          <tr>
            <th>kind</th>
            <th>name</th>
            <th>status</th>
            <th>description</th>
          </tr>
        </thead>
        <tbody>
          {resources.map((r) => (
            <tr key={`${r.kind}/${r.metadata.name}`}>
              <td>{r.kind}</td>
              <td>{r.metadata.name}</td>
              <td class={`status-${r.status.runtimeStatus.status.toLowerCase()}`}>{r.status.runtimeStatus.status}</td>
              <td>{r.status.runtimeStatus.description}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

function Card({ label, value }: { label: string; value: number }) {
  return (
    <div class="card">
      <div class="value">{formatNumber(value)}</div>
      <div class="label">{label}</div>
    </div>
  );
}

function TokenForm({ onSave }: { onSave: () => void }) {
  const [value, setValue] = useState(getToken());
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        onSave();
      }}
    >
      <label>
        Admin token <input type="password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Sign in</button>
    </form>
  );
}

render(<App />, document.getElementById('app')!);
