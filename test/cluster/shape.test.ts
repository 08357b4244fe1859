/**
 * Cluster shape and credentials without processes: F and P from a Broker with `mode: distributed`
 * (flags override), R from the Broker's redundancyFactor or --redundancy, the token file's mode, and a role
 * command refusing to start without a token (exit 2, naming the flag).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterShape } from '../../src/cli/roles.js';
import { ensureToken, readToken } from '../../src/cluster/token.js';
import { edgemqCommand, repoRoot } from '../helpers/broker.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-shape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function broker(spec: Record<string, unknown>): string {
  const file = path.join(dir, `broker-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'mq.edgemq.io/v1beta1', kind: 'Broker', metadata: { name: 'default' }, spec }));
  return file;
}

describe('cluster shape', () => {
  it('takes F and P from a distributed Broker, and flags override it', () => {
    const file = broker({ mode: 'distributed', cardinality: { frontend: { replicas: 3 }, backendChain: { partitions: 4, redundancyFactor: 1 } } });
    expect(clusterShape([file], {})).toEqual({ frontends: 3, partitions: 4, redundancy: 1 });
    expect(clusterShape([file], { frontends: '2', partitions: '1' })).toEqual({ frontends: 2, partitions: 1, redundancy: 1 });
  });
  it('ignores cardinality unless the mode is distributed; defaults to one of each', () => {
    expect(clusterShape([broker({ mode: 'auto', cardinality: { frontend: { replicas: 3 } } })], {})).toEqual({ frontends: 1, partitions: 1, redundancy: 1 });
    expect(clusterShape([], {})).toEqual({ frontends: 1, partitions: 1, redundancy: 1 });
  });
  it('takes R from redundancyFactor or --redundancy (chain replication), and refuses an R out of range naming the flag', () => {
    expect(clusterShape([], { redundancy: '2' }).redundancy).toBe(2);
    const file = broker({ mode: 'distributed', cardinality: { frontend: { replicas: 2 }, backendChain: { partitions: 2, redundancyFactor: 2 } } });
    expect(clusterShape([file], {}).redundancy).toBe(2);
    expect(clusterShape([file], { redundancy: '3' }).redundancy).toBe(3);
    expect(() => clusterShape([], { redundancy: '6' })).toThrow(/--redundancy/);
    expect(() => clusterShape([], { partitions: '0' })).toThrow(/--partitions: "0"/);
  });
});

describe('cluster token', () => {
  it('is generated once with mode 0600 and kept; a loosened mode is tightened', () => {
    const file = ensureToken(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readToken(file);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    chmodSync(file, 0o644);
    ensureToken(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
  });
  it('names the flag when the token file is missing or empty', () => {
    expect(() => readToken(path.join(dir, 'nope'))).toThrow(/--token-file: cannot read .*nope: ENOENT/);
    writeFileSync(path.join(dir, 'empty'), '\n');
    expect(() => readToken(path.join(dir, 'empty'))).toThrow(/--token-file: .*empty holds no token/);
  });
  it('a role command without a token exits with 2 and names the flag', async () => {
    const c = edgemqCommand(['backend', '--id', 'backend-0', '--etcd', 'http://127.0.0.1:1']);
    const env = { ...process.env };
    delete env.EDGEMQ_CLUSTER_TOKEN;
    const err = await promisify(execFile)(c.cmd, c.args, { cwd: repoRoot, env }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/^edgemq: --token-file: required/);
  });
});
