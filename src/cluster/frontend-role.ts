/**
 * `runFrontend`: a cluster front end. The same front door as `edgemq serve` (security, listeners,
 * state-store responder, $SYS), in front of RemoteBrokerCore instead of a local partition.
 *
 * A front end accepts no internal connections: it dials every back end, and deliveries, PUBRELs
 * and kicks for its clients come back on those links. `internalPort` is therefore 0.
 */
import { prepareFrontDoor } from '../cli/front-door.js';
import { RemoteBrokerCore } from '../core/remote-core.js';
import type { FrontendRoleOptions, RunningRole } from './roles.js';

/** How long a starting front end waits for every partition before it gives up (the supervisor restarts it). */
const READY_TIMEOUT_MS = 60_000;

export async function runFrontend(opts: FrontendRoleOptions): Promise<RunningRole> {
  const { door } = prepareFrontDoor({
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
  });
  const log = opts.log;
  const core = new RemoteBrokerCore({ nodeId: opts.id, token: opts.token, mapSource: opts.mapSource, log: log.child({ component: 'remote-core' }) });
  core.start();
  try {
    await waitReady(core, log);
    await door.open(core);
  } catch (err) {
    await door.close();
    await core.close();
    throw err;
  }
  const clientPorts = door.frontEnd!.open.map((l) => l.port);
  log.info({ id: opts.id, clientPorts, instance: core.instance }, 'front end serving');
  return {
    internalPort: 0,
    clientPorts,
    partitions: () => [],
    ready: () => core.ready(),
    async stop() {
      await door.close();
      await core.close();
    },
  };
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
