/**
 * The in-process BrokerCore of the embedded default: the front end calls straight into one
 * partition on the same event loop. No serialization, no network; a command is applied the moment
 * it is submitted, so the order of calls is the order of the log.
 */
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
export class MemoryExecutor {
    partition;
    constructor(partition) {
        this.partition = partition;
    }
    execute(cmd, out) {
        return { result: this.partition.apply(cmd, out) };
    }
    executeThen(cmd, out, waiter, context, tag) {
        waiter.durable(context, tag, this.partition.apply(cmd, out), undefined);
    }
    async close() { }
}
const TICK_MS = 1000;
const QOS0_DONE = Promise.resolve({ matched: -1 });
/** A command that could not be made durable is refused: 0x97 when the disk is full, else 0x80. */
function undurable(err) {
    const cause = err.cause;
    const text = `${err.message} ${cause?.code ?? ''} ${cause?.message ?? ''}`;
    const full = /ENOSPC|no space|quota|SQLITE_FULL|disk is full/i.test(text);
    return new MqttError(full ? RC.QuotaExceeded : RC.UnspecifiedError, full ? 'storage is full' : 'storage write failed', { cause: err });
}
function refuseUndurable(err) {
    throw undurable(err);
}
/** The one waiter of `publishAcked`: the context is the caller's sink. */
const publishWaiter = {
    durable(context, tag, result, error) {
        context.publishDone(tag, error ? undefined : result, error && undurable(error));
    },
};
export class LocalBrokerCore {
    partition;
    executor;
    sinks = new Map();
    ticker;
    // A sink must not throw (SessionSink contract); if one does anyway, the exception stops at that
    // sink so the partition finishes routing to everyone else.
    output = {
        deliver: (connectionId, d) => {
            try {
                this.sinks.get(connectionId)?.deliver(d);
            }
            catch (err) {
                this.onSinkError(connectionId, err);
            }
        },
        release: (connectionId, packetId) => {
            try {
                this.sinks.get(connectionId)?.release(packetId);
            }
            catch (err) {
                this.onSinkError(connectionId, err);
            }
        },
        kick: (connectionId, reasonCode) => {
            const sink = this.sinks.get(connectionId);
            this.sinks.delete(connectionId);
            sink?.kick(reasonCode);
        },
    };
    constructor(partition, executor = new MemoryExecutor(partition)) {
        this.partition = partition;
        this.executor = executor;
        this.ticker = setInterval(() => this.fireAndForget({ type: 'tick', now: Date.now() }), TICK_MS);
        this.ticker.unref();
    }
    /** A broken sink is cut off: its connection is told to go, the back end keeps its session. */
    onSinkError(connectionId, _err) {
        const sink = this.sinks.get(connectionId);
        this.sinks.delete(connectionId);
        try {
            sink?.kick(RC.ImplementationSpecificError);
        }
        catch {
            /* nothing more to do for a sink that cannot even be closed */
        }
    }
    run(cmd) {
        const { result, ready } = this.executor.execute(cmd, this.output);
        return ready ? ready.then(() => result, refuseUndurable) : Promise.resolve(result);
    }
    connect(req, sink) {
        this.sinks.set(req.connectionId, sink);
        return this.run({
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
    disconnect(req) {
        this.sinks.delete(req.connectionId);
        return this.run({ type: 'disconnect', now: Date.now(), ...req });
    }
    subscribe(clientId, connectionId, subs) {
        return this.run({ type: 'subscribe', now: Date.now(), clientId, connectionId, subs });
    }
    unsubscribe(clientId, connectionId, filters) {
        return this.run({ type: 'unsubscribe', now: Date.now(), clientId, connectionId, filters });
    }
    publish(clientId, message, packetId) {
        const cmd = { type: 'publish', now: Date.now(), clientId, message, packetId };
        if (message.qos === 0) {
            // Hot path: no promise per QoS 0 message; nobody waits for its outcome.
            try {
                this.fireAndForget(cmd);
            }
            catch {
                /* a QoS 0 message that cannot be routed is simply lost, as QoS 0 allows */
            }
            return QOS0_DONE;
        }
        return this.run(cmd);
    }
    publishAcked(clientId, message, packetId, sink, tag) {
        this.executor.executeThen({ type: 'publish', now: Date.now(), clientId, message, packetId }, this.output, publishWaiter, sink, tag);
    }
    release(clientId, connectionId, packetId) {
        return this.run({ type: 'release', now: Date.now(), clientId, connectionId, packetId });
    }
    acknowledge(clientId, connectionId, packetId, kind, reasonCode = 0) {
        this.fireAndForget({ type: 'ack', now: Date.now(), clientId, connectionId, packetId, kind, reasonCode });
    }
    setStalled(clientId, connectionId, stalled) {
        this.fireAndForget({ type: 'flow', now: Date.now(), clientId, connectionId, stalled });
    }
    /**
     * Commands nobody waits for (acks, ticks). No promise is chained: a write failure is reported by
     * the executor (onError), and the executor's own batch promise never rejects unhandled.
     */
    fireAndForget(cmd) {
        this.executor.execute(cmd, this.output);
    }
    kv(request) {
        return this.run({ type: 'kv', now: Date.now(), request });
    }
    stats() {
        const p = this.partition;
        let queued = 0;
        let inflight = 0;
        for (const s of p.sessions.values()) {
            queued += s.queue.length;
            inflight += s.inflight.size;
        }
        return {
            sessions: p.sessions.size,
            connected: p.connected,
            subscriptions: p.routes.count,
            retained: p.retained.size,
            ...p.counters,
            queued,
            inflight,
        };
    }
    async close() {
        clearInterval(this.ticker);
        await this.executor.close();
    }
}
//# sourceMappingURL=local-core.js.map