/**
 * A state-store (DSS) client over MQTT 5 request/response, as the Dapr state component uses it:
 * requests to the DSS request topic with Response Topic + Correlation Data at QoS 1, replies parsed
 * from RESP3. Same protocol as Azure IoT MQ's SDKs, plus edgemq's XGET/XTX extensions.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { formatHlc } from '../partition/kv-store.js';
import { STATESTORE_REQUEST_TOPIC } from '../statestore/responder.js';
import { encodeCommand, parseReply } from '../statestore/resp3.js';
import { refreshOnReconnect } from './metadata.js';
const REQUEST_TIMEOUT_MS = 10_000;
export class DssTimeoutError extends Error {
}
export class DssClient {
    client;
    pending = new Map();
    responseTopic;
    constructor(client, clientId) {
        this.client = client;
        this.responseTopic = `clients/${Buffer.from(clientId).toString('hex').toUpperCase()}/statestore/v1/FA9AE35F-2F64-47CD-9BFF-08E2B32A0FE8/command/invoke/response`;
        client.on('message', (_topic, payload, packet) => {
            const key = packet.properties?.correlationData?.toString('hex');
            const p = key ? this.pending.get(key) : undefined;
            if (!p)
                return;
            this.pending.delete(key);
            clearTimeout(p.timer);
            try {
                p.resolve(parseReply(payload));
            }
            catch (err) {
                p.reject(err);
            }
        });
    }
    static async connect(endpoint, clientId, onError) {
        const client = mqtt.connect(endpoint.url, {
            ...endpoint.options,
            clientId,
            protocolVersion: 5,
            clean: true,
            keepalive: 30,
            reconnectPeriod: 1000,
            connectTimeout: 10_000,
        });
        refreshOnReconnect(client, endpoint);
        client.on('error', onError);
        const dss = new DssClient(client, clientId);
        await new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                client.end(true);
                reject(new Error(`cannot connect to the MQTT broker at ${endpoint.display} within 10 s`));
            }, 10_000);
            client.once('connect', () => {
                clearTimeout(timer);
                resolve();
            });
        });
        // Subscribe on every connect: the session is clean, so a reconnect starts without subscriptions.
        const subscribe = () => client.subscribeAsync(dss.responseTopic, { qos: 1 });
        client.on('connect', () => void subscribe().catch(() => { }));
        await subscribe();
        return dss;
    }
    request(args, fencingToken) {
        const corr = randomBytes(16);
        const userProperties = { __ts: formatHlc({ ms: Date.now(), counter: 0, node: 'dapr' }) };
        if (fencingToken)
            userProperties.__ft = fencingToken;
        return new Promise((resolve, reject) => {
            const key = corr.toString('hex');
            const timer = setTimeout(() => {
                this.pending.delete(key);
                reject(new DssTimeoutError(`state store did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
            }, REQUEST_TIMEOUT_MS);
            this.pending.set(key, { resolve, reject, timer });
            this.client.publish(STATESTORE_REQUEST_TOPIC, encodeCommand(args), {
                qos: 1,
                properties: {
                    responseTopic: this.responseTopic,
                    correlationData: corr,
                    messageExpiryInterval: REQUEST_TIMEOUT_MS / 1000,
                    contentType: 'application/octet-stream',
                    userProperties,
                },
            }, (err) => {
                if (!err)
                    return;
                clearTimeout(timer);
                this.pending.delete(key);
                reject(err);
            });
        });
    }
    async close() {
        for (const p of this.pending.values()) {
            clearTimeout(p.timer);
            p.reject(new Error('state store client closed'));
        }
        this.pending.clear();
        await this.client.endAsync(true).catch(() => { });
    }
}
//# sourceMappingURL=dss-client.js.map