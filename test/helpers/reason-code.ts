import { MqttError } from '../../src/mqtt/errors.js';

/** The reason code `fn` throws as an MqttError, or undefined when it does not throw. */
export function reasonOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
  return undefined;
}
