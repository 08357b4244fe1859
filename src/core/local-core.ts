/**
 * The in-process BrokerCore of the embedded default: the front end calls straight into one
 * partition on the same event loop. No serialization, no network; a command is applied the moment
 * it is submitted, so the order of calls is the order of the log.
 */
import { MqttError } from '../mqtt/errors.js';
import type { LatencyHistogram } from '../observability/histogram.js';
import { RC } from '../mqtt/reason-codes.js';
import type { Command } from '../partition/commands.js';
import type { CommandResult, Partition } from '../partition/partition.js';
import type { PartitionOutput } from '../partition/output.js';
import type { KvRequest, KvResult } from '../partition/kv-store.js';
import type { Session } from '../partition/session.js';
import type { AckKind, BrokerCore, BrokerInspector, BrokerStats, PublishOutcomeSink, RetainedInfo, SessionInfo } from './broker-core.js';
import type {
  ConnectRequest,
  ConnectResult,
  Delivery,
  DisconnectRequest,
  Message,
  PublishResult,
  SessionSink,
  SubscriptionRequest,
} from './types.js';

/**
 * Applies commands to a partition. The memory executor applies at once; a durable one
 * (storage room) resolves `ready` only after the command reached the log in the chosen mode.
 */
export interface CommandExecutor {
  execute(cmd: Command, out: PartitionOutput): { result: CommandResult; ready?: Promise<void> };
  /**
   * `execute` without a promise: the outcome goes to `waiter.durable(context, tag, ...)`, at once or
   * once the command is durable, in command order. One waiter serves many commands, so nothing is
   * allocated per command.
   */
  executeThen(cmd: Command, out: PartitionOutput, waiter: DurableWaiter, context: unknown, tag: number): void;
  /**
   * Optional, for a log that can take commands already encoded (storage/durable-executor.ts):
   * `mark()`, execute commands, `adopt(record, count)` with their command-codec encoding.
   */
  mark?(): void;
  adopt?(record: Buffer, count: number): void;
  close(): Promise<void>;
  /**
   * Where a log is written: the next `count` commands executed are the ones `record` encodes
   * (command-codec.ts), so it may be logged as these bytes instead of encoding them again (a chain
   * replica's predecessor encoded them). Executors without a log ignore it.
   */
  expectRecord?(record: Buffer, count: number): void;
  /**
   * Where a log is written: `record` encodes `commands`, the latest commands executed (a chain
   * head encoded them for its successor). Logged as these bytes if they are exactly the group
   * commit being formed; otherwise ignored. The caller must not change the record's bytes.
   */
  offerRecord?(commands: readonly Command[], record: Buffer): void;
  /**
   * Where a log is written: whether a busy turn is cut into several group commits by size here
   * (default), or only where `offerRecord` is called (a chain head forwards in slices of its own,
   * and the log takes the same slices, so each is encoded once).
   */
  sealsEarly?: boolean;
  /** Latency of durable writes, where there are any (metrics). */
  readonly writeLatency?: LatencyHistogram;
}

export interface DurableWaiter {
  durable(context: unknown, tag: number, result: CommandResult, error: Error | undefined): void;
}

export class MemoryExecutor implements CommandExecutor {
  constructor(private readonly partition: Partition) {}
  execute(cmd: Command, out: PartitionOutput) {
    return { result: this.partition.apply(cmd, out) };
  }
  executeThen(cmd: Command, out: PartitionOutput, waiter: DurableWaiter, context: unknown, tag: number): void {
    waiter.durable(context, tag, this.partition.apply(cmd, out), undefined);
  }
  async close() {}
}

const TICK_MS = 1000;
const QOS0_DONE: Promise<PublishResult> = Promise.resolve({ matched: -1 });

/** A command that could not be made durable is refused: 0x97 when the disk is full, else 0x80. */
export function undurable(err: Error): MqttError {
  const cause = err.cause as { code?: string; message?: string } | undefined;
  const text = `${err.message} ${cause?.code ?? ''} ${cause?.message ?? ''}`;
  const full = /ENOSPC|no space|quota|SQLITE_FULL|disk is full/i.test(text);
  return new MqttError(full ? RC.QuotaExceeded : RC.UnspecifiedError, full ? 'storage is full' : 'storage write failed', { cause: err });
}

function refuseUndurable(err: Error): never {
  throw undurable(err);
}

/** The one waiter of `publishAcked`: the context is the caller's sink. */
const publishWaiter: DurableWaiter = {
  durable(context, tag, result, error) {
    (context as PublishOutcomeSink).publishDone(tag, error ? undefined : (result as PublishResult), error && undurable(error));
  },
};

/** The waiter of commands nobody waits for: a failed write is reported by the executor itself (onError). */
const unheard: DurableWaiter = { durable() {} };

export class LocalBrokerCore implements BrokerCore, BrokerInspector {
  private readonly sinks = new Map<number, SessionSink>();
  private readonly ticker: NodeJS.Timeout;
  // A sink must not throw (SessionSink contract); if one does anyway, the exception stops at that
  // sink so the partition finishes routing to everyone else.
  private readonly output: PartitionOutput = {
    deliver: (connectionId: number, d: Delivery) => {
      try {
        this.sinks.get(connectionId)?.deliver(d);
      } catch (err) {
        this.onSinkError(connectionId, err);
      }
    },
    release: (connectionId: number, packetId: number, reasonCode?: number) => {
      try {
        this.sinks.get(connectionId)?.release(packetId, reasonCode);
      } catch (err) {
        this.onSinkError(connectionId, err);
      }
    },
    kick: (connectionId: number, reasonCode: number) => {
      const sink = this.sinks.get(connectionId);
      this.sinks.delete(connectionId);
      sink?.kick(reasonCode);
    },
  };

  constructor(
    private readonly partition: Partition,
    private readonly executor: CommandExecutor = new MemoryExecutor(partition),
  ) {
    this.ticker = setInterval(() => this.fireAndForget({ type: 'tick', now: Date.now() }), TICK_MS);
    this.ticker.unref();
  }

  /** A broken sink is cut off: its connection is told to go, the back end keeps its session. */
  private onSinkError(connectionId: number, _err: unknown): void {
    const sink = this.sinks.get(connectionId);
    this.sinks.delete(connectionId);
    try {
      sink?.kick(RC.ImplementationSpecificError);
    } catch {
      /* nothing more to do for a sink that cannot even be closed */
    }
  }

  private run<T extends CommandResult>(cmd: Command): Promise<T> {
    const { result, ready } = this.executor.execute(cmd, this.output);
    return ready ? ready.then(() => result as T, refuseUndurable) : Promise.resolve(result as T);
  }

  connect(req: ConnectRequest, sink: SessionSink): Promise<ConnectResult> {
    this.sinks.set(req.connectionId, sink);
    return this.run<{ sessionPresent: boolean }>({
      type: 'connect',
      now: Date.now(),
      clientId: req.clientId,
      connectionId: req.connectionId,
      protocolVersion: req.protocolVersion,
      cleanStart: req.cleanStart,
      sessionExpirySeconds: req.sessionExpirySeconds,
      receiveMaximum: req.receiveMaximum,
      will: req.will,
    });
  }

  disconnect(req: DisconnectRequest): Promise<void> {
    this.sinks.delete(req.connectionId);
    return this.run<undefined>({ type: 'disconnect', now: Date.now(), ...req });
  }

  subscribe(clientId: string, connectionId: number, subs: SubscriptionRequest[]): Promise<number[]> {
    return this.run<number[]>({ type: 'subscribe', now: Date.now(), clientId, connectionId, subs });
  }

  unsubscribe(clientId: string, connectionId: number, filters: string[]): Promise<number[]> {
    return this.run<number[]>({ type: 'unsubscribe', now: Date.now(), clientId, connectionId, filters });
  }

  publish(clientId: string, message: Message, packetId?: number): Promise<PublishResult> {
    const cmd: Command = { type: 'publish', now: Date.now(), clientId, message, packetId };
    if (message.qos === 0) {
      // Hot path: no promise per QoS 0 message; nobody waits for its outcome.
      try {
        this.fireAndForget(cmd);
      } catch {
        /* a QoS 0 message that cannot be routed is simply lost, as QoS 0 allows */
      }
      return QOS0_DONE;
    }
    return this.run<PublishResult>(cmd);
  }

  publishAcked(clientId: string, message: Message, packetId: number | undefined, sink: PublishOutcomeSink, tag: number): void {
    this.executor.executeThen({ type: 'publish', now: Date.now(), clientId, message, packetId }, this.output, publishWaiter, sink, tag);
  }

  release(clientId: string, connectionId: number, packetId: number): Promise<number> {
    return this.run<number>({ type: 'release', now: Date.now(), clientId, connectionId, packetId });
  }

  acknowledge(clientId: string, connectionId: number, packetId: number, kind: AckKind, reasonCode = 0): void {
    this.fireAndForget({ type: 'ack', now: Date.now(), clientId, connectionId, packetId, kind, reasonCode });
  }

  setStalled(clientId: string, connectionId: number, stalled: boolean): void {
    this.fireAndForget({ type: 'flow', now: Date.now(), clientId, connectionId, stalled });
  }

  /**
   * Commands nobody waits for (acks, ticks): no promise is made for them at all, and a write
   * failure is reported by the executor (onError).
   */
  private fireAndForget(cmd: Command): void {
    this.executor.executeThen(cmd, this.output, unheard, undefined, 0);
  }

  kv(request: KvRequest): Promise<KvResult> {
    return this.run<KvResult>({ type: 'kv', now: Date.now(), request });
  }

  stats(): BrokerStats {
    return partitionStats(this.partition);
  }

  async sessions(): Promise<SessionInfo[]> {
    return [...this.partition.sessions.values()].map(sessionInfo);
  }

  async session(clientId: string): Promise<SessionInfo | undefined> {
    const s = this.partition.sessions.get(clientId);
    return s && sessionInfo(s);
  }

  async retained(): Promise<RetainedInfo[]> {
    return retainedInfo(this.partition);
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    await this.executor.close();
  }
}

/** A partition's retained messages as the admin API shows them. */
export function retainedInfo(p: Partition): RetainedInfo[] {
  return [...p.retained.entries()].map(([topic, m]) => ({
    topic,
    qos: m.qos,
    bytes: m.payload.length,
    ...(m.expiresAt !== undefined ? { expiresAt: m.expiresAt } : {}),
  }));
}

/** One session as the admin API shows it (also sent by a cluster back end for its partitions). */
export function sessionInfo(s: Session): SessionInfo {
  return {
    clientId: s.clientId,
    online: s.online,
    protocolVersion: s.protocolVersion,
    sessionExpirySeconds: s.sessionExpirySeconds,
    ...(s.expiresAt !== undefined ? { expiresAt: s.expiresAt } : {}),
    subscriptions: [...s.subscriptions.values()].map((o) => ({
      filter: o.filter,
      qos: o.qos,
      noLocal: o.noLocal,
      retainAsPublished: o.retainAsPublished,
      retainHandling: o.retainHandling,
      subscriptionId: o.subscriptionId,
    })),
    queued: s.queue.length,
    inflight: s.inflight.size,
    hasWill: s.will !== undefined,
  };
}

/** A partition's counters as BrokerStats (one node; a cluster's back end reports these per partition). */
export function partitionStats(p: Partition): BrokerStats {
  let queued = 0;
  let inflight = 0;
  let wills = 0;
  for (const s of p.sessions.values()) {
    queued += s.queue.length;
    inflight += s.inflight.size;
    if (s.will !== undefined) wills++;
  }
  return {
    sessions: p.sessions.size,
    connected: p.connected,
    subscriptions: p.routes.count,
    retained: p.retained.size,
    ...p.counters,
    queued,
    inflight,
    wills,
  };
}
