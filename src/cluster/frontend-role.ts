/**
 * `runFrontend`: a cluster front end. The same front door as `edgemq serve` (security, listeners,
 * state-store responder, $SYS), in front of RemoteBrokerCore instead of a local partition.
 *
 * A front end accepts no internal connections: it dials every back end, and deliveries, PUBRELs
 * and kicks for its clients come back on those links. `internalPort` is therefore 0.
 */
import { openDoor, prepareFrontDoor, startDoorOperations, stopDoor } from '../cli/front-door.js';
import { READY_PARTITIONS } from '../cli/operations.js';
import { RemoteBrokerCore } from '../core/remote-core.js';
import type { FrontendRoleOptions, RunningRole } from './roles.js';

/** How long a starting front end waits for every partition before it gives up (the supervisor restarts it). */
const READY_TIMEOUT_MS = 60_000;

export async function runFrontend(opts: FrontendRoleOptions): Promise<RunningRole> {
  const { config, door, dataDir } = prepareFrontDoor({
    configFiles: opts.configFiles,
    port: opts.port,
    portOffset: opts.portOffset,
    host: opts.clientHost,
    dataDir: opts.dataDir,
    ...(opts.secretsDir !== undefined ? { secretsDir: opts.secretsDir } : {}),
    allowAnonymous: opts.allowAnonymous === true,
    log: opts.log,
    // One responder per front end, answering the requests of its own clients: a KEYNOTIFY
    // registration then belongs to the requester's connection, and key authorization sees its listener.
    stateStore: { clientId: `$edgemq/statestore/${opts.id}`, local: true },
    // Every payload is encoded into a link frame within its turn: nothing here keeps a read's bytes.
    sharedReads: true,
  });
  const log = opts.log;
  const b = config.broker;
  // Metrics, probes and the admin API, as on `edgemq serve` (cli/operations.ts): up before the
  // partitions are reached, so /readyz says what the front end waits for.
  const operations = await startDoorOperations(door, {
    settings: b.operations,
    host: opts.clientHost,
    log,
    dataDir,
    configFiles: opts.configFiles,
    loadOptions: { port: opts.port },
    portOffset: opts.portOffset,
    ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
    ...(opts.adminPort !== undefined ? { adminPort: opts.adminPort } : {}),
    labels: { role: 'frontend', node: opts.id },
  });
  const core = new RemoteBrokerCore({ nodeId: opts.id, token: opts.token, mapSource: opts.mapSource, log: log.child({ component: 'remote-core' }) });
  operations.readiness.set(READY_PARTITIONS, () => partitionsReachable(core));
  core.start();
  await openDoor(door, core, operations, { metricsStats: { stats: () => core.frontEndStats(), partitionState: false, directQos0: () => core.directQos0Counts() }, brokerName: b.name }, async () => {
    await waitReady(core, log);
    // Its state is the subscription index of every partition, complete once each is followed.
    operations.stateRecovered();
  });
  const clientPorts = door.frontEnd!.open.map((l) => l.port);
  log.info({ id: opts.id, clientPorts, instance: core.instance, metricsPort: operations.metricsPort, adminPort: operations.adminPort }, 'front end serving');
  return {
    internalPort: 0,
    clientPorts,
    partitions: () => [],
    ready: () => operations.readiness.ready,
    metricsPort: operations.metricsPort,
    adminPort: operations.adminPort,
    async stop() {
      await stopDoor(operations, door, core);
    },
  };
}

/** Readiness: true, or which partitions are unreachable and whose link is down. */
function partitionsReachable(core: RemoteBrokerCore): true | string {
  const down = core.unreachable();
  if (down.length === 0) return core.ready() || 'no cluster map with partitions yet';
  return down.map((d) => `partition ${d.partition} (${d.node ?? 'no node in the map'})`).join(', ');
}

async function waitReady(core: RemoteBrokerCore, log: FrontendRoleOptions['log']): Promise<void> {
  if (core.ready()) return;
  const nag = setInterval(() => log.info('waiting for every partition of the cluster map to be reachable'), 5000);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      core.whenReady(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not every partition was reachable within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearInterval(nag);
    clearTimeout(timer);
  }
}
