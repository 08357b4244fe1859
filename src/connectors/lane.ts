/**
 * One lane of a route: a source client subscribed to the route's filter, a destination client, and
 * the ordered queue of messages between them. A route has one lane, or `groupMinimumShareNumber`
 * lanes fed from `$share/<group>/<source>`.
 *
 * The queue holds what the source sent and the destination has not acknowledged. A QoS 1 message is
 * acknowledged to the source only when the destination acknowledged it, and acknowledgements go back
 * in arrival order, so the source's copy (in the bridge's persistent session) is the durable buffer:
 * if the connector dies, the source re-sends everything not acknowledged. While the destination is
 * away the queue grows up to the connector's bound; beyond it the oldest waiting message is dropped,
 * counted and logged, and acknowledged so the source forgets it too.
 */
import type { IClientPublishOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BridgeConnectorSettings, BridgeRoute } from '../config/bridge-model.js';
import { RC } from '../mqtt/reason-codes.js';
import type { SecretStore } from '../security/secrets.js';
import { endpointOptions } from './endpoint-options.js';
import { HeldAcks } from './held-acks.js';
import { Link } from './link.js';
import { hasMarker, mapTopic, publishOptions } from './message-map.js';
import { recordError, type RouteMetrics } from './route-metrics.js';

const WAITING = 0;
const SENDING = 1;
const DONE = 2;

interface Entry {
  topic: string;
  payload: Buffer;
  options: IClientPublishOptions;
  qos: 0 | 1;
  /** Source packet id (QoS 1) and the connection it came on; its PUBACK goes there. */
  ackId: number;
  acks: HeldAcks | undefined;
  state: number;
  /** With a Message Expiry Interval: when it runs out (ms), so time held here counts too. */
  expiresAt: number | undefined;
}

/** How long the local broker keeps a bridge session while the connector process is away. */
export const LOCAL_SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;
/** Unacknowledged messages towards a destination, within what its CONNACK allows. */
const MAX_WINDOW = 1000;
/** MQTT 3.1.1 has no Receive Maximum; Mosquitto's default inflight limit for 3.1.1 clients is 20, and it queues the rest. */
const V3_WINDOW = 100;
const DROP_LOG_INTERVAL_MS = 10_000;

export class Lane {
  private entries: Entry[] = [];
  private head = 0;
  private cursor = 0;
  private inflight = 0;
  private window = 0;
  private held = 0;
  private bytes = 0;
  private sourceAcks: HeldAcks | undefined;
  private target: MqttClient | undefined;
  private readonly source: Link;
  private readonly destination: Link;
  private readonly marker: string | undefined;
  private readonly localToRemote: boolean;
  private readonly targetV5: boolean;
  private readonly filter: string;
  private dropsSinceLog = 0;
  private lastDropLog = 0;
  private sourceSeen = false;
  private targetSeen = false;

  constructor(
    private readonly settings: BridgeConnectorSettings,
    private readonly route: BridgeRoute,
    lane: number,
    private readonly metrics: RouteMetrics,
    secrets: SecretStore,
    private readonly log: Logger,
  ) {
    this.localToRemote = route.direction === 'local-to-remote';
    this.marker = settings.loopMarker ? settings.name : undefined;
    this.targetV5 = this.localToRemote ? settings.protocolVersion === 5 : true;
    this.filter = route.shared === undefined ? route.source : `$share/${route.shared.groupName}/${route.source}`;
    const clientId = `${settings.clientIdPrefix}${route.name}${lane === 0 ? '' : `-${lane}`}`;
    const r = settings.remote;
    const remoteBase = {
      protocolVersion: settings.protocolVersion,
      clean: r.cleanStart,
      keepalive: r.keepAliveSeconds,
      ...(settings.protocolVersion === 5 ? { properties: { sessionExpiryInterval: r.sessionExpirySeconds } } : {}),
    };
    const remote = () => endpointOptions(r, secrets, remoteBase);
    const localSource = () =>
      endpointOptions(settings.local, secrets, {
        protocolVersion: 5,
        clean: false,
        keepalive: 60,
        properties: { sessionExpiryInterval: LOCAL_SESSION_EXPIRY_SECONDS, receiveMaximum: 65535 },
      });
    const localTarget = () => endpointOptions(settings.local, secrets, { protocolVersion: 5, clean: true, keepalive: 60 });
    const sourceEvents = { onUp: this.sourceUp.bind(this), onDown: this.sourceDown.bind(this), onError: this.linkError.bind(this) };
    const targetEvents = { onUp: this.targetUp.bind(this), onDown: this.targetDown.bind(this), onError: this.linkError.bind(this) };
    const lanelog = log.child({ route: route.name, lane });
    this.source = new Link(this.localToRemote ? 'local' : 'remote', clientId, this.localToRemote ? localSource : remote, sourceEvents, lanelog, settings.reconnect);
    this.destination = new Link(this.localToRemote ? 'remote' : 'local', clientId, this.localToRemote ? remote : localTarget, targetEvents, lanelog, settings.reconnect);
  }

  start(): void {
    this.destination.start();
    this.source.start();
  }

  async stop(): Promise<void> {
    // Source first: nothing new arrives while the destination finishes what it was given.
    await this.source.stop();
    await this.destination.stop();
  }

  // ---- source side --------------------------------------------------------------------------------

  private sourceUp(client: MqttClient): void {
    const acks = new HeldAcks(client);
    this.sourceAcks = acks;
    this.sourceSeen = true;
    this.metrics.sourceConnections++;
    client.on('message', (_topic, _payload, packet) => this.receive(packet, acks));
    const v5 = !this.localToRemote ? this.settings.protocolVersion === 5 : true;
    // No Local is a protocol error on a shared subscription [MQTT-3.8.3-4]; the loop marker covers those.
    const options = v5 ? { qos: this.route.qos, nl: this.route.shared === undefined, rap: true, rh: 1 as const } : { qos: this.route.qos };
    client.subscribe(this.filter, options, (err, granted) => {
      const code = granted?.[0]?.qos;
      if ((err === null && code !== undefined && code < 0x80) || client !== this.source.current) return;
      const why = err?.message ?? `SUBACK reason code 0x${(code ?? 0x80).toString(16)}`;
      this.linkError(`subscribing to '${this.filter}' on the ${this.source.side} broker refused: ${why}`);
      this.source.restart(); // retried with back-off: authorization may be fixed meanwhile
    });
  }

  private sourceDown(): void {
    this.metrics.sourceConnections--;
    const gone = this.sourceAcks;
    this.sourceAcks = undefined;
    // QoS 1 messages not yet handed to the destination come again on the next connection (the session
    // keeps them unacknowledged); keeping these copies as well would forward them twice.
    const before = this.entries.length - this.head;
    const kept: Entry[] = [];
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.state === WAITING && e.qos === 1 && e.acks === gone) {
        this.held--;
        this.bytes -= e.payload.length;
      } else kept.push(e);
    }
    this.entries = kept;
    this.head = 0;
    this.cursor = 0;
    this.updateBacklog(kept.length - before);
    this.releaseFront(); // what finished behind the removed messages is now at the front
  }

  private receive(packet: IPublishPacket, acks: HeldAcks): void {
    const qos = packet.qos === 0 ? 0 : 1;
    if (qos === 1 && packet.dup) this.metrics.redelivered++;
    if (this.marker !== undefined && hasMarker(packet, this.marker)) {
      this.metrics.looped++;
      if (qos === 1) acks.ack(packet.messageId!);
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const expiry = packet.properties?.messageExpiryInterval;
    this.entries.push({
      topic: mapTopic(this.route.target, packet.topic),
      payload,
      options: publishOptions(packet, qos, this.marker, this.targetV5),
      qos,
      ackId: packet.messageId ?? 0,
      acks: qos === 1 ? acks : undefined,
      state: WAITING,
      expiresAt: expiry === undefined ? undefined : Date.now() + expiry * 1000,
    });
    this.held++;
    this.bytes += payload.length;
    this.updateBacklog(1);
    while (this.held > this.settings.buffer.maxMessages || this.bytes > this.settings.buffer.maxBytes) {
      if (!this.dropOldestWaiting()) break;
    }
    this.pump();
  }

  /** The bound: the oldest message not yet handed to the destination makes room. */
  private dropOldestWaiting(): boolean {
    for (let i = this.cursor; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.state !== WAITING) continue;
      this.metrics.dropped++;
      this.metrics.droppedBufferFull++;
      this.dropsSinceLog++;
      const now = Date.now();
      if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
        this.log.warn(
          { route: this.route.name, dropped: this.dropsSinceLog, backlog: this.held, backlogBytes: this.bytes, bound: this.settings.buffer },
          'bridge buffer full: oldest messages dropped',
        );
        recordError(this.metrics, `buffer full (${this.settings.buffer.maxMessages} messages / ${this.settings.buffer.maxBytes} bytes): oldest dropped`);
        this.lastDropLog = now;
        this.dropsSinceLog = 0;
      }
      this.complete(e);
      return true;
    }
    return false;
  }

  // ---- destination side -------------------------------------------------------------------------

  private targetUp(client: MqttClient, connack: IConnackPacket): void {
    this.metrics.targetConnections++;
    this.targetSeen = true;
    this.target = client;
    const v5 = this.localToRemote ? this.settings.protocolVersion === 5 : true;
    this.window = v5 ? Math.min(MAX_WINDOW, connack.properties?.receiveMaximum ?? 65535) : V3_WINDOW;
    this.inflight = 0;
    this.cursor = this.head;
    this.pump();
  }

  private targetDown(): void {
    this.metrics.targetConnections--;
    this.target = undefined;
    this.inflight = 0;
    // What was in flight goes again, in order, on the next connection.
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.state === SENDING) e.state = WAITING;
    }
    this.cursor = this.head;
  }

  private pump(): void {
    const client = this.target;
    if (client === undefined) return;
    while (this.inflight < this.window && this.cursor < this.entries.length) {
      const e = this.entries[this.cursor++]!;
      if (e.state !== WAITING) continue;
      if (e.expiresAt !== undefined && !this.refreshExpiry(e)) continue;
      e.state = SENDING;
      this.inflight++;
      client.publish(e.topic, e.payload, e.options, (err) => this.sent(e, client, err));
    }
  }

  private sent(e: Entry, client: MqttClient, err: Error | undefined): void {
    if (client !== this.target || e.state !== SENDING) return; // that connection is gone; targetDown re-queued it
    this.inflight--;
    if (err !== undefined && err !== null) {
      const code = (err as { code?: unknown }).code;
      if (!client.connected) {
        return; // lost with the connection: targetDown re-queues it
      }
      if (code === RC.QuotaExceeded) {
        // The destination is overloaded: back off by reconnecting rather than hammering it.
        this.linkError(`${this.destination.side} broker answered 0x97 Quota exceeded; reconnecting with back-off`);
        this.destination.restart();
        return;
      }
      this.metrics.dropped++;
      this.metrics.droppedRefused++;
      const message = `${this.destination.side} broker refused a message for '${e.topic}': ${err.message}`;
      recordError(this.metrics, message);
      this.log.warn({ route: this.route.name, topic: e.topic, code }, message);
    } else {
      this.metrics.forwarded++;
    }
    this.complete(e);
    this.pump();
  }

  /**
   * Sets the expiry interval a message has left; one that expired while held is dropped (counted in
   * `expired`), as the broker would have dropped it [MQTT-3.3.2-5].
   */
  private refreshExpiry(e: Entry): boolean {
    const left = Math.ceil((e.expiresAt! - Date.now()) / 1000);
    if (left > 0) {
      if (e.options.properties !== undefined) e.options.properties.messageExpiryInterval = left;
      return true;
    }
    this.metrics.expired++;
    this.complete(e);
    return false;
  }

  /** Marks a message finished (forwarded, refused, dropped or expired). */
  private complete(e: Entry): void {
    e.state = DONE;
    this.held--;
    this.bytes -= e.payload.length;
    this.updateBacklog(-1);
    this.releaseFront();
  }

  /** Acknowledges to the source, in arrival order, every finished message at the front. */
  private releaseFront(): void {
    const entries = this.entries;
    while (this.head < entries.length && entries[this.head]!.state === DONE) {
      const done = entries[this.head]!;
      entries[this.head++] = undefined as unknown as Entry;
      if (done.acks !== undefined) done.acks.ack(done.ackId);
    }
    if (this.head > 1024 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head);
      this.cursor -= this.head;
      this.head = 0;
    }
    if (this.cursor < this.head) this.cursor = this.head;
  }

  private updateBacklog(delta: number): void {
    this.metrics.backlog += delta;
  }

  /** Both of this lane's clients have been connected at least once (the connector's readiness rule). */
  get connectedOnce(): boolean {
    return this.sourceSeen && this.targetSeen;
  }

  /** Bytes held by this lane (the route's `backlogBytes` is the sum over its lanes). */
  get heldBytes(): number {
    return this.bytes;
  }

  private linkError(message: string): void {
    this.metrics.connectFailures++;
    recordError(this.metrics, message);
    this.log.warn({ route: this.route.name }, message);
  }
}
