import { reasonName } from './reason-codes.js';
const kMqttError = Symbol.for('edgemq.MqttError');
/**
 * A protocol-level failure that carries the MQTT reason code the spec names for it.
 * Thrown by handlers and topic validation; the channel maps it onto CONNACK, SUBACK, PUBACK or DISCONNECT.
 * The Symbol brand keeps `instanceof` working across duplicate copies of the module (as undici does).
 */
export class MqttError extends Error {
    reasonCode;
    code;
    constructor(reasonCode, message, options) {
        super(message, options);
        this.reasonCode = reasonCode;
        this.name = 'MqttError';
        this.code = `EDGEMQ_${reasonName(reasonCode).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
    }
    get [kMqttError]() {
        return true;
    }
    static [Symbol.hasInstance](x) {
        return typeof x === 'object' && x !== null && x[kMqttError] === true;
    }
}
/** A configuration problem: names the resource and the field so operators can fix their YAML. */
export class ConfigError extends Error {
    resource;
    field;
    code = 'EDGEMQ_CONFIG';
    constructor(message, resource, field) {
        super(message);
        this.resource = resource;
        this.field = field;
        this.name = 'ConfigError';
    }
}
//# sourceMappingURL=errors.js.map