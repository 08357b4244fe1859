import { RingQueue } from '../util/ring-queue.js';
export const NEVER_EXPIRES = 0xffffffff;
const EMPTY_MAP = new Map();
const EMPTY_SET = new Set();
export class Session {
    clientId;
    /** 0 while no connection is live. */
    connectionId = 0;
    protocolVersion = 4;
    sessionExpirySeconds = 0;
    /** When an offline session ends (ms); undefined while online or when it never expires. */
    expiresAt;
    receiveMaximum = 65535;
    /** The live connection stopped draining (front end's verdict, FlowCommand): the queue policy applies. */
    stalled = false;
    queue = new RingQueue();
    // Most sessions of an edge site are publishers that never subscribe or receive QoS 1/2, so the
    // collections below are created on first write; reads of an absent one see a shared empty one.
    subs;
    flight;
    qos2In;
    will;
    /** When a delayed will is due (ms), set while the connection is gone and the delay runs. */
    willAt;
    /** Next packet identifier to try (persisted so a restored session continues the sequence). */
    nextId = 1;
    /** Scratch fields for aggregating overlapping subscriptions during one publish (see Router). */
    matchEpoch = 0;
    matchQos = 0;
    matchRetain = false;
    matchSubIds;
    matchNoLocalOnly = false;
    constructor(clientId) {
        this.clientId = clientId;
    }
    get subscriptions() {
        return this.subs ?? EMPTY_MAP;
    }
    writableSubscriptions() {
        return (this.subs ??= new Map());
    }
    /** Insertion order is send order, which is the order to re-send in after a reconnect. */
    get inflight() {
        return this.flight ?? EMPTY_MAP;
    }
    writableInflight() {
        return (this.flight ??= new Map());
    }
    /** Inbound QoS 2 packet ids between PUBLISH and PUBREL. */
    get incomingQos2() {
        return this.qos2In ?? EMPTY_SET;
    }
    writableIncomingQos2() {
        return (this.qos2In ??= new Set());
    }
    get online() {
        return this.connectionId !== 0;
    }
    /** Next free packet identifier, skipping ids still in flight. Deterministic so replay reproduces it. */
    allocatePacketId() {
        for (let tries = 0; tries < 65535; tries++) {
            const id = this.nextId;
            this.nextId = id === 65535 ? 1 : id + 1;
            if (!this.inflight.has(id))
                return id;
        }
        return 0;
    }
}
//# sourceMappingURL=session.js.map