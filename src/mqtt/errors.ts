import { reasonName } from './reason-codes.js';

const kMqttError = Symbol.for('edgemq.MqttError');

/**
 * A protocol-level failure that carries the MQTT reason code the spec names for it.
 * Thrown by handlers and topic validation; the channel maps it onto CONNACK, SUBACK, PUBACK or DISCONNECT.
 * The Symbol brand keeps `instanceof` working across duplicate copies of the module (as undici does).
 */
export class MqttError extends Error {
  readonly code: string;
  constructor(
    readonly reasonCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MqttError';
    this.code = `EDGEMQ_${reasonName(reasonCode).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
  }
  get [kMqttError]() {
    return true;
  }
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[kMqttError] === true;
  }
}

/** A configuration problem: names the resource and the field so operators can fix their YAML. */
export class ConfigError extends Error {
  readonly code = 'EDGEMQ_CONFIG';
  constructor(
    message: string,
    readonly resource?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
