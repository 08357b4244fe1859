/**
 * Topic aliases (MQTT 5 3.3.2.3.4) in both directions. Inbound: the client's alias -> topic map,
 * bounded by the Topic Alias Maximum we advertised. Outbound: the broker assigns aliases to the
 * first `max` distinct topics it sends and keeps them for the connection's life; the first PUBLISH
 * carries topic + alias, later ones the alias alone. No eviction: a stable set of hot topics is
 * the common case, and re-mapping an alias would cost a full topic anyway.
 */
import { MqttError } from '../mqtt/errors.js';
import { RC } from '../mqtt/reason-codes.js';
export class InboundAliases {
    max;
    topics = new Map();
    constructor(max) {
        this.max = max;
    }
    /** Returns the topic to use for a PUBLISH carrying `alias` (and possibly a topic). */
    resolve(topic, alias) {
        if (alias === 0 || alias > this.max)
            throw new MqttError(RC.TopicAliasInvalid, `topic alias ${alias} outside 1..${this.max}`);
        if (topic.length > 0) {
            this.topics.set(alias, topic);
            return topic;
        }
        const known = this.topics.get(alias);
        if (known === undefined)
            throw new MqttError(RC.ProtocolError, `topic alias ${alias} was never set`);
        return known;
    }
}
export class OutboundAliases {
    max;
    aliases = new Map();
    constructor(max) {
        this.max = max;
    }
    get enabled() {
        return this.max > 0;
    }
    /** `{alias, known}`: known = the client already has this alias, so the topic may be left out. */
    lookup(topic) {
        const alias = this.aliases.get(topic);
        if (alias !== undefined)
            return { alias, known: true };
        if (this.aliases.size >= this.max)
            return undefined;
        const fresh = this.aliases.size + 1;
        this.aliases.set(topic, fresh);
        return { alias: fresh, known: false };
    }
    /** Takes back an alias whose introducing PUBLISH was never sent (e.g. too large for the client). */
    forget(topic, alias) {
        if (this.aliases.get(topic) === alias && alias === this.aliases.size)
            this.aliases.delete(topic);
    }
}
//# sourceMappingURL=topic-alias.js.map