/**
 * State-store key authorization (`stateStoreResources`) on a cluster: a request is answered by the
 * front end holding the requester's connection, whose listener's policy applies. (With one shared
 * responder group over all front ends, a request answered by the other front end found no channel of
 * the client there and was refused.) Real processes: `edgemq cluster`, F = 2, P = 2.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/broker.js';
import { startCluster, until, type TestCluster } from '../helpers/cluster.js';
import { passwd } from '../../src/security/commands.js';
import { tempDir, writeSecret } from '../security/helpers.js';
import { DssClient, hlc } from '../statestore/dss-client.js';

let cluster: TestCluster;
const dataDir = tempDir('edgemq-dss-authz-');

const config = (port: number) => `apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: Broker
metadata: {name: default}
spec:
  edgemq: {durability: memory, sysIntervalSeconds: 0}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerListener
metadata: {name: plant}
spec:
  brokerRef: default
  ports:
  - {port: ${port}, authenticationRef: authn, authorizationRef: authz}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthentication
metadata: {name: authn}
spec:
  authenticationMethods:
  - method: UsernamePassword
    usernamePasswordSettings: {secretName: passwords}
---
apiVersion: mqttbroker.iotoperations.azure.com/v1
kind: BrokerAuthorization
metadata: {name: authz}
spec:
  authorizationPolicies:
    rules:
    - principals: {usernames: [kv]}
      brokerResources:
      - {method: Connect, clientIds: ["kv-*"]}
      - {method: Publish, topics: ["#"]}
      - {method: Subscribe, topics: ["#"]}
      stateStoreResources:
      - {method: ReadWrite, keyType: Pattern, keys: ["allowed*"]}
`;

/** Two consecutive free ports: front end i listens on the configured port + i. */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false));
      s.listen(p + 1, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return p;
  }
}

beforeAll(async () => {
  // Secrets beside the config file (<data dir>/config.yaml), where every role looks by default.
  const secrets = path.join(dataDir, 'secrets');
  writeSecret(secrets, 'passwords', {});
  await passwd({ file: path.join(secrets, 'passwords', 'passwords.toml'), username: 'kv', password: 'kv-pw', attributes: {}, iterations: 1000 });
  cluster = await startCluster({ frontends: 2, partitions: 2, dataDir, config: config(await twoFreePorts()) });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('state-store key authorization on a cluster', () => {
  it('applies the policy of the listener the client came through, on either front end', async () => {
    for (const [i, url] of cluster.frontendUrls().entries()) {
      // A front end may still be coming up on its configured port (the supervisor restarts one that fails to start).
      const c = await until(`front end ${i}`, () => DssClient.connect(url, `kv-${i}`, { username: 'kv', password: Buffer.from('kv-pw') }).catch(() => undefined), 30_000);
      for (let n = 0; n < 6; n++) {
        expect((await c.request(['SET', `allowed-${i}-${n}`, 'v'], { __ts: hlc() })).raw.toString()).toBe('+OK\r\n');
        expect((await c.request(['SET', `other-${i}-${n}`, 'v'], { __ts: hlc() })).raw.toString()).toBe('-ERR not authorized\r\n');
      }
      await c.end();
    }
  });
});
