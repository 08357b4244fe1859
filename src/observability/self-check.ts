/**
 * Azure IoT MQ's self-check: every `intervalSeconds` a probe client connects, subscribes to a topic
 * of its own under `azedge/dmqtt/selftest/`, publishes one QoS 1 message to it, waits for it to come
 * back, unsubscribes and disconnects. Each step's latency and any loss go to the metrics and the log.
 *
 * The probe is an in-process client of the BrokerCore (as the state store is), so it exercises the
 * session, routing and storage path without needing credentials for a listener. Wildcard
 * subscribers never see its traffic: `#` does not reach the self-test tree (topics/reserved.ts).
 */
import type { Logger } from 'pino';
import type { BrokerCore } from '../core/broker-core.js';
import type { Delivery, Message, SessionSink } from '../core/types.js';
import { SELF_TEST_ROOT } from '../topics/reserved.js';
import type { SelfCheckMetrics, SelfCheckStep } from './metrics.js';

export const SELF_CHECK_CLIENT_ID = '$edgemq/selfcheck';
/** Connection ids below zero belong to in-process clients (the state store has -1). */
export const SELF_CHECK_CONNECTION_ID = -2;

export interface SelfCheckOptions {
  core: BrokerCore;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Absent when no metrics are served: the rounds are then only logged. */
  metrics?: SelfCheckMetrics;
  log: Logger;
  /** Distinguishes the probes of several front ends on one cluster (`azedge/dmqtt/selftest/{node}/…`). */
  node: string;
}

export interface SelfCheckResult {
  ok: boolean;
  /** Milliseconds per step that completed. */
  latencyMs: Partial<Record<SelfCheckStep, number>>;
  lost: boolean;
  error?: string;
  at: number;
}

class StepTimeout extends Error {}

export class SelfCheck {
  private timer: NodeJS.Timeout | undefined;
  private round = 0;
  private running: Promise<SelfCheckResult> | undefined;
  private waiting: { topic: string; resolve: () => void } | undefined;
  private stopped = false;
  last: SelfCheckResult | undefined;

  private readonly sink: SessionSink = {
    deliver: (d: Delivery) => {
      // From inside the partition: acknowledge later, never call back into the core synchronously.
      setImmediate(() => {
        if (d.qos === 1) this.o.core.acknowledge(SELF_CHECK_CLIENT_ID, SELF_CHECK_CONNECTION_ID, d.packetId, 'puback');
      });
      const w = this.waiting;
      if (w && d.message.topic === w.topic) w.resolve();
    },
    release: (packetId) => this.o.core.acknowledge(SELF_CHECK_CLIENT_ID, SELF_CHECK_CONNECTION_ID, packetId, 'pubcomp'),
    kick: (reasonCode) => this.o.log.warn({ reasonCode }, 'self-check session was closed by the broker'),
  };

  constructor(private readonly o: SelfCheckOptions) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.run(), this.o.intervalSeconds * 1000);
    this.timer.unref();
    void this.run();
  }

  /** One probe round (a round already under way is joined, not doubled). */
  run(): Promise<SelfCheckResult> {
    this.running ??= this.probe().finally(() => (this.running = undefined));
    return this.running;
  }

  private async probe(): Promise<SelfCheckResult> {
    const { core, metrics, log } = this.o;
    const round = ++this.round;
    const topic = `${SELF_TEST_ROOT}/${this.o.node}/${round}`;
    const latencyMs: SelfCheckResult['latencyMs'] = {};
    const id = SELF_CHECK_CLIENT_ID;
    const conn = SELF_CHECK_CONNECTION_ID;
    let lost = false;
    let error: string | undefined;
    let connected = false;
    const timed = async <T>(step: SelfCheckStep, work: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const value = await this.withTimeout(work(), step);
      latencyMs[step] = performance.now() - t0;
      metrics?.stepLatency[step].set(latencyMs[step]!);
      return value;
    };
    try {
      await timed('connect', () =>
        core.connect({ clientId: id, connectionId: conn, protocolVersion: 5, cleanStart: true, sessionExpirySeconds: 0, receiveMaximum: 16 }, this.sink),
      );
      connected = true;
      const [granted] = await timed('subscribe', () =>
        core.subscribe(id, conn, [{ filter: topic, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 2, subscriptionId: 0 }]),
      );
      if (granted === undefined || granted >= 0x80) throw new Error(`subscribe refused with reason ${granted}`);
      const message: Message = { topic, payload: Buffer.from(`selftest ${round} ${Date.now()}`), qos: 1, retain: false, origin: id };
      const t0 = performance.now();
      const arrived = new Promise<void>((resolve) => (this.waiting = { topic, resolve }));
      try {
        await timed('publish', async () => {
          await core.publish(id, message);
          await arrived;
        });
        metrics?.publishToDelivery.observe((performance.now() - t0) / 1000);
      } catch (err) {
        if (err instanceof StepTimeout) {
          lost = true;
          metrics?.messagesLost.inc();
        }
        throw err;
      } finally {
        this.waiting = undefined;
      }
      await timed('unsubscribe', () => core.unsubscribe(id, conn, [topic]));
    } catch (err) {
      error = (err as Error).message;
    } finally {
      if (connected) await core.disconnect({ clientId: id, connectionId: conn, normal: true }).catch(() => {});
    }
    const ok = error === undefined;
    metrics?.rounds.inc({ result: ok ? 'ok' : 'failed' });
    const rounded = Object.fromEntries(Object.entries(latencyMs).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
    if (ok) log.info({ selfCheck: round, latencyMs: rounded }, 'self-check passed');
    else if (!this.stopped) log.warn({ selfCheck: round, latencyMs: rounded, lost, err: error }, 'self-check failed');
    this.last = { ok, latencyMs: rounded, lost, at: Date.now(), ...(error !== undefined ? { error } : {}) };
    return this.last;
  }

  private withTimeout<T>(p: Promise<T>, step: SelfCheckStep): Promise<T> {
    const ms = this.o.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepTimeout(`${step} took longer than ${this.o.timeoutSeconds} s`)), ms);
      timer.unref();
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** Stops the rounds; a round under way ends by itself (its steps fail once the core is closed). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.waiting = undefined;
  }
}
