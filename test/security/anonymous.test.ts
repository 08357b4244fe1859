/**
 * Secure by default: nothing but loopback is served without authentication unless explicitly
 * allowed. (The opt-in cases are checked in process, so the tests never bind a public address.)
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { Security } from '../../src/security/security.js';
import { freePort, startBroker } from '../helpers/broker.js';
import { BROKER, tempDir } from './helpers.js';

const listener = (port: number, ext = '') => `${BROKER()}---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: shopfloor}
spec:
  brokerRef: default
  ports: [{port: ${port}}]${ext}
`;

function security(yaml: string, host: string, allowAnonymous = false): { warnings: string[] } {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const dir = tempDir();
  new Security(parseConfigText(yaml, 'test'), { secretsDir: dir, dataDir: dir, host, allowAnonymous, log }).close();
  return { warnings };
}

describe('anonymous listeners', () => {
  it('refuses to start a non-loopback listener without authentication, naming it', async () => {
    const port = await freePort();
    await expect(startBroker({ port, config: listener(port), args: ['--host', '0.0.0.0'] })).rejects.toThrow(/BrokerListener\/shopfloor: port \d+ would serve 0\.0\.0\.0 without authentication/);
    expect(() => security(listener(1883), '10.0.0.5')).toThrow(/BrokerListener\/shopfloor/);
  });

  it('serves loopback anonymously without a warning', () => {
    expect(security(listener(1883), '127.0.0.1').warnings.join('')).not.toMatch(/without authentication/);
    expect(security(listener(1883), '::1').warnings.join('')).not.toMatch(/without authentication/);
  });

  it('accepts BrokerListener spec.edgemq.allowAnonymous or --allow-anonymous, with a warning', () => {
    expect(security(listener(1883, '\n  edgemq: {allowAnonymous: true}'), '0.0.0.0').warnings.join('')).toMatch(/without authentication on a non-loopback address/);
    expect(security(listener(1883), '0.0.0.0', true).warnings.join('')).toMatch(/without authentication on a non-loopback address/);
  });
});
