/**
 * Command line of a single-member etcd for one machine: loopback only, its data in `dataDir`.
 * `edgemq cluster` runs it as a supervised child (unless `--etcd` names running endpoints); tests
 * start it the same way. Restarting it with the same ports and data dir keeps every key and lease.
 */
export interface LocalEtcdOptions {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  host?: string;
  name?: string;
  /** More addresses to accept clients on (the checker's back ends in network namespaces reach it there). */
  alsoListenOn?: string[];
}

export function localEtcdArgs(o: LocalEtcdOptions): string[] {
  const host = o.host ?? '127.0.0.1';
  const name = o.name ?? 'edgemq';
  const client = `http://${host}:${o.clientPort}`;
  const peer = `http://${host}:${o.peerPort}`;
  return [
    '--name', name,
    '--data-dir', o.dataDir,
    '--listen-client-urls', [client, ...(o.alsoListenOn ?? []).map((h) => `http://${h}:${o.clientPort}`)].join(','),
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-level', 'warn',
  ];
}

export function localEtcdEndpoint(o: Pick<LocalEtcdOptions, 'clientPort' | 'host'>): string {
  return `http://${o.host ?? '127.0.0.1'}:${o.clientPort}`;
}
