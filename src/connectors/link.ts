/**
 * One bridge client's connection to one broker, kept up for the life of the route. Every attempt
 * builds a fresh mqtt.js client with `reconnectPeriod: 0`: mqtt.js's own reconnect retries at a fixed
 * period and keeps an in-memory outgoing store of its own, while the bridge wants exponential backoff
 * with jitter and to decide itself what is re-sent (its forward queue is the only store).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import type { ConnectTarget } from './endpoint-options.js';

export interface LinkEvents {
  /** A CONNACK arrived; `client` is the live connection until `onDown`. */
  onUp(client: MqttClient, connack: mqtt.IConnackPacket): void;
  onDown(client: MqttClient): void;
  /** Connection refused, lost, or the options could not be built (e.g. a missing secret). */
  onError(message: string): void;
}

/**
 * A connection counts as healthy, and the next outage starts the back-off from the beginning, only if
 * it stayed up this long: a broker that accepts CONNECT and then refuses the subscription or drops
 * the link at once is retried with growing delays, not in a tight loop.
 */
const STABLE_MS = 10_000;

export class Link {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private up = false;
  private upSince = 0;
  /** Set when the bridge itself closes the connection; that reason was reported already. */
  private restarting = false;
  private readonly backoff: Backoff;

  constructor(
    /** Used in logs: `local` or `remote`. */
    readonly side: string,
    readonly clientId: string,
    private readonly options: () => ConnectTarget,
    private readonly events: LinkEvents,
    private readonly log: Logger,
    reconnect: { minDelayMs: number; maxDelayMs: number },
  ) {
    this.backoff = new Backoff(reconnect.minDelayMs, reconnect.maxDelayMs);
  }

  get current(): MqttClient | undefined {
    return this.up ? this.client : undefined;
  }

  start(): void {
    this.attempt();
  }

  private attempt(): void {
    this.timer = undefined;
    if (this.stopped) return;
    let target: ConnectTarget;
    try {
      target = this.options();
    } catch (err) {
      this.failed(`cannot prepare the ${this.side} connection: ${(err as Error).message}`);
      this.retry();
      return;
    }
    const opts: IClientOptions = { ...target.options, clientId: this.clientId, reconnectPeriod: 0, connectTimeout: 10_000 };
    const client = mqtt.connect(target.url, opts);
    this.client = client;
    let sawError: string | undefined;
    client.on('error', (err) => {
      sawError = err.message;
    });
    client.on('connect', (connack) => {
      if (this.stopped || client !== this.client) return;
      this.up = true;
      this.upSince = Date.now();
      this.log.info({ side: this.side, clientId: this.clientId, url: target.url, sessionPresent: connack.sessionPresent }, 'bridge client connected');
      this.events.onUp(client, connack);
    });
    let closed = false;
    client.on('close', () => {
      if (closed || client !== this.client) return;
      closed = true;
      const wasUp = this.up;
      const restarting = this.restarting;
      this.up = false;
      this.restarting = false;
      if (wasUp) {
        if (Date.now() - this.upSince >= STABLE_MS) this.backoff.reset();
        this.events.onDown(client);
        if (!this.stopped && !restarting) this.failed(`${this.side} connection lost${sawError === undefined ? '' : `: ${sawError}`}`);
      } else if (!this.stopped) {
        this.failed(`${this.side} connection to ${target.url} failed: ${sawError ?? 'closed before CONNACK'}`);
      }
      client.removeAllListeners('connect');
      client.end(true);
      this.retry();
    });
  }

  /** Drops the connection and connects again after the back-off; `reason` was reported by the caller. */
  restart(): void {
    const client = this.current;
    if (client === undefined) return;
    this.restarting = true;
    client.end(true);
  }

  private failed(message: string): void {
    this.events.onError(message);
  }

  private retry(): void {
    if (this.stopped || this.timer !== undefined) return;
    const delay = this.backoff.next();
    this.log.debug({ side: this.side, clientId: this.clientId, delayMs: delay }, 'bridge client reconnecting');
    this.timer = setTimeout(() => this.attempt(), delay);
  }

  /** Ends the connection; `graceful` sends DISCONNECT (normal disconnection keeps the session). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.up = false;
    if (client === undefined) return;
    // A DISCONNECT if the connection is up; a connection still being set up is just closed.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, {}, () => resolve()), 2000);
      client.end(!client.connected, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
