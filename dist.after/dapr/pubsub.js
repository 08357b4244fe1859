/**
 * The Dapr pub/sub component (`dapr.proto.components.v1.PubSub`) as MQTT 5 clients of edgemq.
 *
 * - Publish/BulkPublish: one MQTT 5 PUBLISH per event; the bytes daprd sends (the CloudEvent JSON) are the
 *   payload unchanged; content type, `ttlInSeconds` (-> Message Expiry Interval) and other request metadata
 *   (-> user properties) travel as MQTT 5 properties.
 * - PullMessages: each stream gets its own MQTT connection subscribed to `$share/{consumerID}/{topic}`, so the
 *   replicas of one app (same consumerID) compete for messages. The client id is `{clientID or
 *   consumerID-<random>}-s{n}`, never the bare consumerID, so replicas never take over each other's sessions.
 * - Ack -> PUBACK: the PUBACK of a QoS 1/2 message is withheld until daprd acks it without error.
 * - NACK (`ack_error`) -> redelivery by the component on the same stream after a back-off (1 s doubling to 5 s),
 *   with a new id, the PUBACK still withheld. If the stream or the component goes away first, the message was
 *   never acknowledged, so the broker redelivers it: on a persistent session when it resumes, and through the
 *   shared subscription to another replica at once (edgemq redispatches a departed member's unacked messages).
 *   `maxRedeliveries` (default -1 = no limit) acks and drops a message after that many NACKs.
 */
import { randomBytes, createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import mqtt from 'mqtt';
import { instanceName, unary } from './instances.js';
import { brokerEndpoint, intOf, MetadataError, refreshOnReconnect, truthy } from './metadata.js';
import { plainError } from './rpc-status.js';
export const PUBSUB_FEATURES = ['SUBSCRIBE_WILDCARDS', 'BULK_PUBSUB', 'MESSAGE_TTL'];
const CONTROL_METADATA = new Set(['rawPayload', 'ttlInSeconds', 'retain', 'contentType', 'content-type', 'qos']);
const PUBLISH_TIMEOUT_MS = 20_000;
function parseConfig(name, p) {
    const endpoint = brokerEndpoint(p);
    const consumerId = p.consumerID || p.consumerId || name;
    const stable = p.clientID || p.clientId;
    const cleanSession = truthy(p.cleanSession, false, 'cleanSession');
    return {
        endpoint,
        consumerId,
        group: consumerId.replace(/[/+#\s]/g, '_'),
        clientIdBase: stable || `${consumerId}-${randomBytes(4).toString('hex')}`,
        stableClientId: Boolean(stable),
        qos: intOf(p.qos, 1, 'qos', 0, 2),
        retain: truthy(p.retain, false, 'retain'),
        cleanSession,
        // Only a client id that survives a restart can resume a session, so only then is one kept.
        sessionExpirySeconds: intOf(p.sessionExpirySeconds, cleanSession || !stable ? 0 : 3600, 'sessionExpirySeconds', 0, 0xffffffff),
        keepAlive: intOf(p.keepAlive, 30, 'keepAlive', 0, 65535),
        maxRedeliveries: intOf(p.maxRedeliveries, -1, 'maxRedeliveries', -1),
        redeliveryDelayMs: intOf(p.redeliveryDelayMs, 1000, 'redeliveryDelayMs', 0, 60_000),
    };
}
function clientOptions(cfg, clientId, clean, sessionExpiry) {
    const o = cfg.endpoint.options;
    return {
        ...o,
        properties: { ...o.properties, sessionExpiryInterval: sessionExpiry },
        clientId,
        protocolVersion: 5,
        clean,
        keepalive: cfg.keepAlive,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
    };
}
export class PubSubInstance {
    name;
    cfg;
    log;
    publisher;
    streams = new Set();
    streamSeq = 0;
    paused = false;
    constructor(name, cfg, log) {
        this.name = name;
        this.cfg = cfg;
        this.log = log;
    }
    static async create(name, props, log) {
        let cfg;
        try {
            cfg = parseConfig(name, props);
        }
        catch (err) {
            if (err instanceof MetadataError)
                throw plainError(grpc.status.INVALID_ARGUMENT, err.message);
            throw err;
        }
        const inst = new PubSubInstance(name, cfg, log);
        await inst.connectPublisher();
        return inst;
    }
    async connectPublisher() {
        const client = mqtt.connect(this.cfg.endpoint.url, clientOptions(this.cfg, `${this.cfg.clientIdBase}-pub`, true, 0));
        refreshOnReconnect(client, this.cfg.endpoint);
        client.on('error', (err) => this.log.warn({ err: err.message, instance: this.name }, 'pub/sub publisher connection error'));
        this.publisher = client;
        await waitConnected(client, 10_000).catch((err) => {
            client.end(true);
            throw plainError(grpc.status.UNAVAILABLE, `cannot connect to the MQTT broker at ${this.cfg.endpoint.display}: ${err.message}`);
        });
        this.log.info({ instance: this.name, broker: this.cfg.endpoint.display, consumerID: this.cfg.consumerId }, 'pub/sub instance ready');
    }
    async publish(topic, data, metadata, contentType) {
        if (!topic || /[+#\u0000]/.test(topic))
            throw plainError(grpc.status.INVALID_ARGUMENT, `invalid topic name "${topic}"`);
        const opts = { qos: this.cfg.qos, retain: this.cfg.retain };
        if (metadata.retain !== undefined) {
            try {
                opts.retain = truthy(metadata.retain, this.cfg.retain, 'retain');
            }
            catch (err) {
                throw plainError(grpc.status.INVALID_ARGUMENT, err.message);
            }
        }
        const props = {};
        const ct = contentType || metadata.contentType || metadata['content-type'] || (truthy(metadata.rawPayload, false, 'rawPayload') ? '' : 'application/cloudevents+json');
        if (ct)
            props.contentType = ct;
        if (metadata.ttlInSeconds !== undefined && metadata.ttlInSeconds !== '') {
            const ttl = Number(metadata.ttlInSeconds);
            if (!Number.isInteger(ttl))
                throw plainError(grpc.status.INVALID_ARGUMENT, `metadata ttlInSeconds: "${metadata.ttlInSeconds}" is not an integer`);
            if (ttl > 0)
                props.messageExpiryInterval = Math.min(ttl, 0xffffffff);
        }
        const user = {};
        for (const [k, v] of Object.entries(metadata))
            if (!CONTROL_METADATA.has(k))
                user[k] = v;
        // (never an empty userProperties object: mqtt.js then sends nothing)
        if (Object.keys(user).length > 0)
            props.userProperties = user;
        if (Object.keys(props).length > 0)
            opts.properties = props;
        const client = this.publisher;
        let timer;
        try {
            await Promise.race([
                client.publishAsync(topic, data, opts),
                new Promise((_, reject) => {
                    timer = setTimeout(() => reject(plainError(grpc.status.UNAVAILABLE, `publish to ${topic} not acknowledged within ${PUBLISH_TIMEOUT_MS / 1000} s`)), PUBLISH_TIMEOUT_MS);
                }),
            ]);
        }
        catch (err) {
            if (typeof err.code === 'number' && err.metadata)
                throw err;
            const rc = err.code;
            const code = rc === 0x87 ? grpc.status.PERMISSION_DENIED : rc === 0x97 ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE;
            throw plainError(code, `publish to ${topic} failed: ${err.message}`);
        }
        finally {
            clearTimeout(timer);
        }
    }
    pull(call) {
        let stream;
        const finish = () => {
            if (stream) {
                this.streams.delete(stream);
                void stream.close();
            }
        };
        call.on('data', (req) => {
            if (!stream) {
                if (!req.topic?.name) {
                    call.emit('error', plainError(grpc.status.INVALID_ARGUMENT, 'topic should be fulfilled in the very first message'));
                    return;
                }
                try {
                    stream = new PullStream(this, call, req.topic.name, req.topic.metadata ?? {}, ++this.streamSeq, this.log);
                }
                catch (err) {
                    call.emit('error', plainError(grpc.status.INVALID_ARGUMENT, err.message));
                    return;
                }
                this.streams.add(stream);
                stream.start();
                return;
            }
            stream.ack(req.ackMessageId, req.ackError ? req.ackError.message || 'error' : undefined);
        });
        call.on('end', () => {
            finish();
            call.end();
        });
        call.on('cancelled', finish);
        call.on('error', finish);
    }
    setPaused(paused) {
        this.paused = paused;
        if (!paused)
            for (const s of this.streams)
                s.resume();
    }
    async close() {
        await Promise.all([...this.streams].map((s) => s.close()));
        this.streams.clear();
        await this.publisher?.endAsync(true).catch(() => { });
    }
}
/** One PullMessages stream: one MQTT connection, at most one QoS 1/2 message held unacknowledged. */
class PullStream {
    owner;
    call;
    topic;
    n;
    log;
    client;
    filter;
    held;
    seq = 0;
    closed = false;
    unsubscribeOnClose;
    constructor(owner, call, topic, topicMetadata, n, log) {
        this.owner = owner;
        this.call = call;
        this.topic = topic;
        this.n = n;
        this.log = log;
        const cfg = owner.cfg;
        const shared = topicMetadata.shared === undefined ? true : truthy(topicMetadata.shared, true, 'shared');
        this.filter = topic.startsWith('$share/') || !shared ? topic : `$share/${cfg.group}/${topic}`;
        this.unsubscribeOnClose = cfg.cleanSession || truthy(topicMetadata.unsubscribeOnClose, false, 'unsubscribeOnClose');
        // Stable per (clientID, topic) so a restarted replica resumes its session; unique per stream otherwise.
        const suffix = cfg.stableClientId ? createHash('sha256').update(this.filter).digest('hex').slice(0, 8) : `s${n}`;
        const opts = clientOptions(cfg, `${cfg.clientIdBase}-${suffix}`, cfg.cleanSession, cfg.sessionExpirySeconds);
        opts.customHandleAcks = (_topic, _message, packet, done) => this.onMessage(packet, done);
        opts.manualConnect = true;
        this.client = mqtt.connect(cfg.endpoint.url, opts);
        refreshOnReconnect(this.client, cfg.endpoint);
    }
    start() {
        const c = this.client;
        c.on('message', (_t, _p, packet) => {
            if (packet.qos === 0)
                this.onMessage(packet, undefined);
        });
        c.on('connect', (connack) => {
            if (connack.sessionPresent)
                return; // the broker kept the subscription
            c.subscribe(this.filter, { qos: this.owner.cfg.qos }, (err, granted) => {
                const rc = granted?.[0]?.qos;
                if (err || rc === undefined || rc >= 0x80)
                    this.log.error({ filter: this.filter, err: err?.message, rc }, 'pub/sub subscribe failed');
                else
                    this.log.debug({ filter: this.filter, clientId: c.options.clientId }, 'pub/sub subscribed');
            });
        });
        c.on('error', (err) => this.log.warn({ err: err.message, topic: this.topic }, 'pub/sub stream connection error'));
        c.connect();
    }
    onMessage(packet, done) {
        if (this.closed)
            return; // never acked: the broker redelivers
        if (!done) {
            this.write({ packet, nacks: 0 }); // QoS 0: nothing to acknowledge
            return;
        }
        this.held = { packet, done: (code) => done(code), nacks: 0 };
        if (!this.owner.paused)
            this.write(this.held);
    }
    write(h) {
        const p = h.packet;
        const metadata = { retained: String(Boolean(p.retain)) };
        const user = p.properties?.userProperties;
        if (user)
            for (const [k, v] of Object.entries(user))
                metadata[k] = Array.isArray(v) ? v.join(',') : String(v);
        if (p.properties?.contentType)
            metadata['content-type'] = p.properties.contentType;
        h.id = `${this.n}-${++this.seq}`;
        this.call.write({
            data: Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload),
            topicName: p.topic,
            metadata,
            contentType: p.properties?.contentType ?? '',
            id: h.id,
        });
    }
    ack(id, error) {
        const h = this.held;
        if (!h || h.id !== id)
            return; // QoS 0, or an ack for an attempt already superseded
        if (error === undefined) {
            this.held = undefined;
            h.done?.(0); // PUBACK
            return;
        }
        h.nacks++;
        const max = this.owner.cfg.maxRedeliveries;
        if (max >= 0 && h.nacks > max) {
            this.log.warn({ topic: h.packet.topic, nacks: h.nacks, error }, 'message dropped after maxRedeliveries NACKs');
            this.held = undefined;
            h.done?.(0);
            return;
        }
        h.id = undefined;
        const delay = Math.min(this.owner.cfg.redeliveryDelayMs * 2 ** (h.nacks - 1), 5000);
        this.log.debug({ topic: h.packet.topic, nacks: h.nacks, delay, error }, 'NACK: redelivering');
        h.timer = setTimeout(() => {
            if (this.held === h && !this.closed && !this.owner.paused)
                this.write(h);
        }, delay);
    }
    /** After Pause: hand over the held message if it is not with daprd now. */
    resume() {
        const h = this.held;
        if (!h || h.id !== undefined)
            return;
        clearTimeout(h.timer);
        h.timer = undefined;
        this.write(h);
    }
    async close() {
        if (this.closed)
            return;
        this.closed = true;
        clearTimeout(this.held?.timer);
        const c = this.client;
        if (this.unsubscribeOnClose && c.connected)
            await c.unsubscribeAsync(this.filter).catch(() => { });
        // The held message (if any) is never PUBACKed: the broker keeps it for the session or hands it to another member.
        await c.endAsync(true).catch(() => { });
    }
}
function waitConnected(client, ms) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`no CONNACK within ${ms / 1000} s`));
        }, ms);
        const onConnect = () => {
            cleanup();
            resolve();
        };
        const onError = (err) => {
            if (err.code === undefined)
                return; // socket errors: keep retrying until the deadline
            cleanup();
            reject(err);
        };
        const cleanup = () => {
            clearTimeout(timer);
            client.off('connect', onConnect);
            client.off('error', onError);
        };
        client.on('connect', onConnect);
        client.on('error', onError);
    });
}
export function pubSubService(instances, log) {
    return {
        Init: unary(async (req, md) => {
            const name = instanceName(md);
            await instances.put(name, await PubSubInstance.create(name, req.metadata?.properties ?? {}, log));
            return {};
        }),
        Features: unary(async () => ({ features: PUBSUB_FEATURES })),
        Publish: unary(async (req, md) => {
            await instances.get(md).publish(req.topic, req.data, req.metadata ?? {}, req.contentType);
            return {};
        }),
        BulkPublish: unary(async (req, md) => {
            const inst = instances.get(md);
            const results = await Promise.allSettled(req.entries.map((e) => inst.publish(req.topic, e.event, { ...req.metadata, ...e.metadata }, e.contentType)));
            const failedEntries = results.flatMap((r, i) => r.status === 'rejected' ? [{ entryId: req.entries[i].entryId, error: String(r.reason?.message ?? r.reason) }] : []);
            return { failedEntries };
        }),
        PullMessages: (call) => {
            try {
                instances.get(call.metadata).pull(call);
            }
            catch (err) {
                call.emit('error', err);
            }
        },
        Pause: unary(async (_req, md) => {
            instances.get(md).setPaused(true);
            return {};
        }),
        Resume: unary(async (_req, md) => {
            instances.get(md).setPaused(false);
            return {};
        }),
        Ping: unary(async () => ({})),
    };
}
//# sourceMappingURL=pubsub.js.map