/** Shared YAML snippets and helpers for the config tests. */
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ConfigError } from '../../../src/mqtt/errors.js';

export const AZURE_2023 = 'mq.iotoperations.azure.com/v1beta1';
export const AZURE_V1 = 'mqttbroker.iotoperations.azure.com/v1';
export const EDGEMQ = 'mq.edgemq.io/v1beta1';

export function broker(name = 'broker', spec = '{}', apiVersion = EDGEMQ): string {
  return `apiVersion: ${apiVersion}\nkind: Broker\nmetadata:\n  name: ${name}\nspec: ${spec}\n`;
}

export function listener(name: string, specLines: string[], apiVersion = EDGEMQ): string {
  return `apiVersion: ${apiVersion}\nkind: BrokerListener\nmetadata:\n  name: ${name}\nspec:\n${specLines.map((l) => `  ${l}`).join('\n')}\n`;
}

export const docs = (...parts: string[]): string => parts.join('---\n');

/** Runs `fn`, expects a ConfigError and returns it for assertions on message/resource/field. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** Absolute path of a file in samples/config (tests must not depend on the working directory). */
export const samplePath = (name: string): string => fileURLToPath(new URL(`../../../samples/config/${name}`, import.meta.url));
