/**
 * globalSetup of the `cluster-conformance` project: one local cluster (F = 2, P = 2) for every
 * conformance file that needs no Broker settings of its own (each test uses its own client ids and
 * topics, so they can share it). Files with settings start their own cluster (test/helpers/broker.ts).
 */
import type { TestProject } from 'vitest/node';
import { startCluster } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    edgemqCluster: { port: number; dataDir: string } | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startCluster({ frontends: 2, partitions: 2 });
  project.provide('edgemqCluster', { port: cluster.port, dataDir: cluster.dataDir });
  return () => cluster.stop();
}
