import { KvErrors, STATESTORE_NOTIFY_PREFIX, STATESTORE_REQUEST_TOPIC } from '../partition/kv-store.js';
import { accessOf, encodeResult, parseOp } from './protocol.js';
import { encodeError, parseCommand } from './resp3.js';
export { STATESTORE_NOTIFY_PREFIX, STATESTORE_REQUEST_TOPIC };
/** Client id of the responder's session. Front ends should refuse it (and all of `$edgemq/`) for network clients. */
export const STATESTORE_CLIENT_ID = '$edgemq/statestore';
/** System clients use negative connection ids, so they never collide with the front end's (1, 2, ...). */
export const STATESTORE_CONNECTION_ID = -1;
export class StateStoreResponder {
    opts;
    queue = [];
    draining = false;
    stopped = false;
    reconnectTimer;
    sink = {
        deliver: (d) => {
            this.queue.push(d);
            // Deliveries arrive from inside the partition: never call back into the core synchronously.
            if (!this.draining)
                setImmediate(() => void this.drain());
        },
        release: (packetId) => this.core.acknowledge(STATESTORE_CLIENT_ID, STATESTORE_CONNECTION_ID, packetId, 'pubcomp'),
        kick: (reasonCode) => {
            this.opts.log?.warn({ reasonCode }, 'state store session was closed by the broker; reconnecting');
            if (!this.stopped)
                this.reconnectTimer = setTimeout(() => void this.start().catch(() => { }), 200);
        },
    };
    constructor(opts) {
        this.opts = opts;
    }
    get core() {
        return this.opts.core;
    }
    async start() {
        this.stopped = false;
        await this.core.connect({
            clientId: STATESTORE_CLIENT_ID,
            connectionId: STATESTORE_CONNECTION_ID,
            protocolVersion: 5,
            cleanStart: true,
            sessionExpirySeconds: 0,
            receiveMaximum: 65535,
        }, this.sink);
        const [rc] = await this.core.subscribe(STATESTORE_CLIENT_ID, STATESTORE_CONNECTION_ID, [
            { filter: STATESTORE_REQUEST_TOPIC, qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2, subscriptionId: 0 },
        ]);
        if (rc === undefined || rc >= 0x80)
            throw new Error(`state store could not subscribe to its request topic (reason ${rc})`);
    }
    async stop() {
        this.stopped = true;
        clearTimeout(this.reconnectTimer);
        await this.core.disconnect({ clientId: STATESTORE_CLIENT_ID, connectionId: STATESTORE_CONNECTION_ID, normal: true });
    }
    /** Requests are answered one at a time, in arrival order, so one client's requests keep their order. */
    async drain() {
        this.draining = true;
        try {
            for (let d = this.queue.shift(); d; d = this.queue.shift()) {
                try {
                    await this.handle(d.message);
                }
                catch (err) {
                    this.opts.log?.error({ err }, 'state store request failed');
                }
                if (d.qos === 1)
                    this.core.acknowledge(STATESTORE_CLIENT_ID, STATESTORE_CONNECTION_ID, d.packetId, 'puback');
                else if (d.qos === 2)
                    this.core.acknowledge(STATESTORE_CLIENT_ID, STATESTORE_CONNECTION_ID, d.packetId, 'pubrec');
            }
        }
        finally {
            this.draining = false;
        }
    }
    async handle(m) {
        const responseTopic = m.properties?.responseTopic;
        if (!responseTopic) {
            this.opts.log?.debug({ client: m.origin }, 'state store request without a response topic ignored');
            return;
        }
        if (responseTopic === STATESTORE_REQUEST_TOPIC || responseTopic.startsWith(STATESTORE_NOTIFY_PREFIX.slice(0, -1))) {
            this.opts.log?.warn({ client: m.origin, responseTopic }, 'state store request with a forbidden response topic ignored');
            return;
        }
        const { payload, version } = await this.execute(m);
        const response = { topic: responseTopic, payload, qos: m.qos === 0 ? 0 : 1, retain: false, origin: STATESTORE_CLIENT_ID };
        // No empty userProperties object: mqtt-packet then writes a PUBLISH that never reaches the client.
        const properties = {};
        if (version)
            properties.userProperties = { __ts: version };
        if (m.properties?.correlationData)
            properties.correlationData = m.properties.correlationData;
        if (properties.userProperties || properties.correlationData)
            response.properties = properties;
        if (m.expiresAt !== undefined)
            response.expiresAt = m.expiresAt;
        await this.core.publish(STATESTORE_CLIENT_ID, response);
    }
    async execute(m) {
        const args = parseCommand(m.payload);
        if (!args)
            return { payload: encodeError(KvErrors.syntax) };
        const parsed = parseOp(args);
        if (!parsed.ok)
            return { payload: encodeError(parsed.message) };
        const authorize = this.opts.authorize;
        if (authorize) {
            const { read, write } = accessOf(parsed.op);
            for (const [keys, access] of [[read, 'read'], [write, 'write']]) {
                for (const key of keys) {
                    if (!(await authorize(m.origin, key, access)))
                        return { payload: encodeError(KvErrors.notAuthorized) };
                }
            }
        }
        const req = { clientId: m.origin, op: parsed.op };
        const props = m.properties?.userProperties;
        const ts = first(props?.__ts) ?? first(props?.Timestamp);
        const ft = first(props?.__ft) ?? first(props?.FencingToken);
        if (ts !== undefined)
            req.timestamp = ts;
        if (ft !== undefined)
            req.fencingToken = ft;
        const result = await this.core.kv(req);
        return { payload: encodeResult(result), version: result.type === 'error' ? undefined : result.version };
    }
}
function first(v) {
    return Array.isArray(v) ? v[0] : v;
}
//# sourceMappingURL=responder.js.map