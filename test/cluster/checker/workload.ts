/**
 * The checker's clients (Jepsen-like): publishers and subscribers with persistent sessions that
 * go round the front ends when theirs dies, and the bookkeeping that turns what they saw into the
 * counts of issue #15: acknowledged messages never delivered (lost), duplicates, deliveries out of
 * per-publisher order, deliveries never published (phantoms), and the longest publish stall.
 *
 * Every payload is `<publisher>:<n>`, n counting from 0 per publisher. A publisher keeps at most
 * `window` messages in flight; MQTT.js re-sends unacknowledged ones after a reconnect (same
 * session), which is the front end's retry with the idempotency key (client id, packet id, session).
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface Endpoint {
  host: string;
  port: number;
}

export interface StreamSpec {
  qos: 1 | 2;
  publishers: number;
  subscribers: number;
  /** Messages in flight per publisher. */
  window: number;
  /** Pause between publishes of one publisher (ms). */
  intervalMs: number;
}

interface Publisher {
  id: string;
  client: MqttClient;
  next: number;
  inFlight: number;
  sent: Set<number>;
  acked: Set<number>;
  lastAck: number;
  longestStall: number;
  /** When each acknowledgement came (ms, ascending): the stalls after each fault are read from it. */
  ackTimes: number[];
  refused: number;
  stopped: boolean;
}

interface Subscriber {
  id: string;
  client: MqttClient;
  /** publisher -> payload numbers in delivery order (duplicates included). */
  got: Map<string, number[]>;
  /** `publisher:n` -> when it first arrived (ms), to date a second delivery. */
  firstAt: Map<string, number>;
  /** Second deliveries, for diagnosis: what, when (ms since the epoch), and after how long. */
  repeats: string[];
  lastMessage: number;
}

export interface Counts {
  qos: number;
  published: number;
  acknowledged: number;
  /** Acknowledged and missing at one or more subscribers (counted per subscriber). */
  lost: number;
  duplicates: number;
  orderViolations: number;
  phantoms: number;
  /** Longest time a publisher with messages in flight heard no acknowledgement (ms). */
  longestStallMs: number;
  refusals: number;
  lostSamples: string[];
  /** Up to 10 second deliveries: subscriber, message, time of both, the second's DUP flag. */
  duplicateSamples: string[];
}

const clientOpts = (id: string, servers: Endpoint[], first: number) => ({
  clientId: id,
  clean: false,
  protocolVersion: 4 as const,
  reconnectPeriod: 300,
  connectTimeout: 3000,
  keepalive: 5,
  // Round the front ends, starting at this client's own.
  servers: [...servers.slice(first), ...servers.slice(0, first)],
  resubscribe: false,
  // A front end answers CONNACK "server unavailable" while a partition's chain re-forms: try again.
  reconnectOnConnackError: true,
});

export class Stream {
  private readonly pubs: Publisher[] = [];
  private readonly subs: Subscriber[] = [];
  private timer: NodeJS.Timeout | undefined;
  readonly topic: string;

  constructor(
    private readonly run: string,
    private readonly spec: StreamSpec,
    private readonly servers: () => Endpoint[],
  ) {
    this.topic = `chk/${run}/q${spec.qos}`;
  }

  async start(): Promise<void> {
    const servers = this.servers();
    for (let i = 0; i < this.spec.subscribers; i++) {
      const id = `${this.run}-q${this.spec.qos}-sub${i}`;
      const client = mqtt.connect(clientOpts(id, servers, i % servers.length));
      const s: Subscriber = { id, client, got: new Map(), firstAt: new Map(), repeats: [], lastMessage: Date.now() };
      client.on('message', (_t, payload, packet) => {
        const text = payload.toString();
        const at = text.lastIndexOf(':');
        const pub = text.slice(0, at);
        const n = Number(text.slice(at + 1));
        let list = s.got.get(pub);
        if (!list) s.got.set(pub, (list = []));
        list.push(n);
        const now = Date.now();
        const first = s.firstAt.get(text);
        if (first === undefined) s.firstAt.set(text, now);
        else if (s.repeats.length < 10) s.repeats.push(`${id} got ${text} at ${first} and again at ${now} (+${now - first} ms, dup flag ${packet.dup ? 1 : 0})`);
        s.lastMessage = now;
      });
      client.on('error', () => {});
      // A connection closed before its SUBACK (a front end that closes a partition's sessions while
      // the map settles) is not a failure of the run: the next connection subscribes again.
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${id} did not subscribe within 60 s`)), 60_000);
        const attempt = (): void => {
          client.subscribe(this.topic, { qos: this.spec.qos }, (err, granted) => {
            if (err) return;
            if ((granted?.[0]?.qos ?? 0x80) >= 0x80) return void setTimeout(attempt, 500);
            clearTimeout(t);
            client.off('connect', attempt);
            resolve();
          });
        };
        client.on('connect', attempt);
      });
      this.subs.push(s);
    }
    for (let i = 0; i < this.spec.publishers; i++) {
      const id = `${this.run}-q${this.spec.qos}-pub${i}`;
      const client = mqtt.connect(clientOpts(id, servers, (i + 1) % servers.length));
      client.on('error', () => {});
      this.pubs.push({ id, client, next: 0, inFlight: 0, sent: new Set(), acked: new Set(), lastAck: Date.now(), longestStall: 0, ackTimes: [], refused: 0, stopped: false });
    }
    this.timer = setInterval(() => this.tick(), this.spec.intervalMs);
  }

  private tick(): void {
    const now = Date.now();
    for (const p of this.pubs) {
      if (p.inFlight > 0) p.longestStall = Math.max(p.longestStall, now - p.lastAck);
      if (p.stopped || p.inFlight >= this.spec.window) continue;
      const n = p.next++;
      p.sent.add(n);
      if (p.inFlight === 0) p.lastAck = now; // a stall is counted from the first unanswered message
      p.inFlight++;
      p.client.publish(this.topic, `${p.id}:${n}`, { qos: this.spec.qos }, (err) => {
        p.inFlight--;
        p.lastAck = Date.now();
        if (err) p.refused++;
        else {
          p.acked.add(n);
          p.ackTimes.push(p.lastAck);
        }
      });
    }
  }

  /** Stop publishing, then wait until nothing is in flight and the subscribers have been quiet for `quietMs`. */
  async drain(timeoutMs: number, quietMs = 3000): Promise<void> {
    clearInterval(this.timer);
    for (const p of this.pubs) p.stopped = true;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const busy = this.pubs.some((p) => p.inFlight > 0);
      const quiet = this.subs.every((s) => Date.now() - s.lastMessage > quietMs && s.client.connected);
      if (!busy && quiet && this.missing().length === 0) return;
      if (!busy && quiet && Date.now() - Math.max(...this.subs.map((s) => s.lastMessage)) > 3 * quietMs) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private missing(): string[] {
    const out: string[] = [];
    for (const s of this.subs) {
      for (const p of this.pubs) {
        const got = new Set(s.got.get(p.id) ?? []);
        for (const n of p.acked) if (!got.has(n)) out.push(`${s.id} lacks ${p.id}:${n}`);
      }
    }
    return out;
  }

  /**
   * The publish stall after a fault at `at`: the longest time any publisher went without an
   * acknowledgement, over the gaps between acknowledgements that reach into [at, until]. The
   * publishers always have a message waiting (one every intervalMs), so a gap is a stall.
   */
  stallAfter(at: number, until: number): number {
    let longest = 0;
    for (const p of this.pubs) {
      const t = p.ackTimes;
      // The last acknowledgement before `at` (or `at` itself when there is none), then every gap up to `until`.
      let i = lowerBound(t, at);
      let prev = i > 0 ? t[i - 1]! : at;
      for (; i < t.length && prev <= until; i++) {
        longest = Math.max(longest, t[i]! - prev);
        prev = t[i]!;
      }
      if (prev <= until && (i === t.length)) longest = Math.max(longest, until - prev);
    }
    return longest;
  }

  /** Per subscriber: messages received per publisher and the highest number (for diagnosis). */
  summary(): string {
    return this.subs.map((s) => `${s.id}: ${[...s.got].map(([p, l]) => `${p.split('-').pop()} n=${l.length} max=${Math.max(...l)}`).join(', ')}`).join('; ');
  }

  counts(): Counts {
    const lost = this.missing();
    let duplicates = 0;
    let orderViolations = 0;
    let phantoms = 0;
    let published = 0;
    let acknowledged = 0;
    for (const p of this.pubs) {
      published += p.sent.size;
      acknowledged += p.acked.size;
    }
    const byId = new Map(this.pubs.map((p) => [p.id, p]));
    for (const s of this.subs) {
      for (const [pub, list] of s.got) {
        const p = byId.get(pub);
        const seen = new Set<number>();
        let max = -1;
        for (const n of list) {
          if (!p || !p.sent.has(n)) {
            phantoms++;
            continue;
          }
          if (seen.has(n)) {
            duplicates++;
            continue;
          }
          seen.add(n);
          // A first delivery below one already seen: out of the publisher's order.
          if (n < max) orderViolations++;
          else max = n;
        }
      }
    }
    return {
      qos: this.spec.qos,
      published,
      acknowledged,
      lost: lost.length,
      duplicates,
      orderViolations,
      phantoms,
      longestStallMs: Math.max(0, ...this.pubs.map((p) => p.longestStall)),
      refusals: this.pubs.reduce((a, p) => a + p.refused, 0),
      lostSamples: lost.slice(0, 5),
      duplicateSamples: this.subs.flatMap((s) => s.repeats).slice(0, 10),
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.pubs.map((p) => p.client), ...this.subs.map((s) => s.client)].map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  }
}

/** First index whose value is >= x in an ascending list. */
function lowerBound(list: number[], x: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
