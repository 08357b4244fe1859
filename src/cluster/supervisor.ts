/**
 * Runs a set of child processes and keeps them running: a child that exits without being asked to
 * is started again with the same command line (same id, ports and data dir, so it rejoins as the
 * same node) after a backoff that doubles per quick crash. Every start, stop and restart rewrites
 * `<data-dir>/cluster.json` (atomically: written beside it and renamed), which operators and tests
 * read. Child output goes to ours, each line prefixed with the child's id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MIN_MS, RESTART_BACKOFF_RESET_MS } from './timeouts.js';
import { OPS_PORT_IN_USE_EXIT } from '../util/http-listen.js';

export type ProcessRole = 'etcd' | 'coordinator' | 'backend' | 'frontend';

/** Where a cluster process can be reached: what `cluster.json` lists and the supervisor starts it with. */
export interface ProcessAddress {
  role: ProcessRole;
  id: string;
  host: string;
  /** Client-facing ports (front ends), the etcd client port (etcd). */
  clientPorts?: number[];
  internalPort?: number;
  peerPort?: number;
  /** /metrics, /healthz, /readyz of the process. */
  metricsPort?: number;
  /** Admin API and console (front ends). */
  adminPort?: number;
}

export interface ProcessSpec extends ProcessAddress {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface ProcessEntry extends ProcessAddress {
  pid: number | null;
  /** Back ends: the partitions the current map gives them. */
  partitions?: number[];
  restarts: number;
  startedAt: string | null;
}

export interface ClusterFile {
  version: 1;
  supervisor: { pid: number; running: boolean };
  [key: string]: unknown;
  processes: ProcessEntry[];
}

export const CLUSTER_FILE = 'cluster.json';

interface Managed {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  restarts: number;
  startedAt: number;
  backoff: number;
  timer: NodeJS.Timeout | undefined;
  removing: boolean;
}

export interface SupervisorOptions {
  dataDir: string;
  log: Logger;
  /** Cluster-wide fields of cluster.json besides the processes (etcd endpoints, shape, token file). */
  describe: () => Record<string, unknown>;
  /** Partitions of a back end, from the current map. */
  partitionsOf?: (id: string) => number[] | undefined;
  /** A child died (not asked to stop); called before its restart is scheduled. */
  died?: (spec: ProcessSpec, pid: number) => void;
  /**
   * A child exited because one of its operator ports (metrics, admin) was taken
   * (OPS_PORT_IN_USE_EXIT): the spec to start it with instead, on other such ports. Without it, or
   * if it throws, the child is started again as it was.
   */
  opsPortTaken?: (spec: ProcessSpec) => Promise<ProcessSpec>;
}

export class Supervisor {
  private readonly procs = new Map<string, Managed>();
  private running = true;

  constructor(private readonly opts: SupervisorOptions) {}

  start(spec: ProcessSpec): void {
    if (this.procs.has(spec.id)) throw new Error(`supervisor: ${spec.id} is already running`);
    const m: Managed = { spec, child: undefined, exited: Promise.resolve(), restarts: 0, startedAt: 0, backoff: RESTART_BACKOFF_MIN_MS, timer: undefined, removing: false };
    this.procs.set(spec.id, m);
    this.launch(m);
  }

  private launch(m: Managed): void {
    const { spec } = m;
    const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...spec.env, EDGEMQ_SUPERVISOR_PID: String(process.pid) } });
    m.child = child;
    m.startedAt = Date.now();
    this.prefix(child.stdout!, process.stdout, spec.id);
    this.prefix(child.stderr!, process.stderr, spec.id);
    m.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        this.exited(m, child, code, signal);
      });
      child.once('error', (err) => {
        // spawn failed (e.g. no etcd on PATH): 'exit' may not follow, so treat it as one.
        this.opts.log.error({ id: spec.id, err: err.message }, 'cannot start process');
        if (child.pid === undefined) {
          resolve();
          this.exited(m, child, null, null);
        }
      });
    });
    this.write();
  }

  private exited(m: Managed, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (m.child !== child) return;
    m.child = undefined;
    if (m.removing || !this.running) {
      this.write();
      return;
    }
    if (child.pid !== undefined) this.opts.died?.(m.spec, child.pid);
    const ranFor = Date.now() - m.startedAt;
    if (ranFor >= RESTART_BACKOFF_RESET_MS) m.backoff = RESTART_BACKOFF_MIN_MS;
    const delay = m.backoff;
    m.backoff = Math.min(m.backoff * 2, RESTART_BACKOFF_MAX_MS);
    this.opts.log.warn({ id: m.spec.id, role: m.spec.role, code, signal, ranForMs: ranFor, restartInMs: delay }, 'process exited; restarting');
    this.write();
    // Picked during the backoff; a failure to pick is logged at once and the child comes back as it was.
    const respec =
      code === OPS_PORT_IN_USE_EXIT && this.opts.opsPortTaken
        ? this.opts.opsPortTaken(m.spec).catch((err: Error) => {
            this.opts.log.error({ id: m.spec.id, err: err.message }, 'no new operator ports; starting on the same ones');
            return undefined;
          })
        : undefined;
    m.timer = setTimeout(() => {
      m.timer = undefined;
      void this.relaunch(m, respec);
    }, delay);
  }

  private async relaunch(m: Managed, respec: Promise<ProcessSpec | undefined> | undefined): Promise<void> {
    const spec = await respec;
    if (spec) {
      this.opts.log.warn({ id: spec.id, metricsPort: spec.metricsPort, adminPort: spec.adminPort }, 'an operator port was taken; starting on new ones');
      m.spec = spec;
    }
    if (m.removing || !this.running) return;
    m.restarts++;
    this.launch(m);
    this.opts.log.info({ id: m.spec.id, pid: m.child?.pid, restarts: m.restarts }, 'process restarted');
  }

  private prefix(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, id: string): void {
    createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => to.write(`${id} | ${line}\n`));
  }

  /** Stops one process (SIGTERM, then SIGKILL after `graceMs`) and forgets it. */
  async remove(id: string, graceMs = 10_000): Promise<void> {
    const m = this.procs.get(id);
    if (!m) return;
    m.removing = true;
    clearTimeout(m.timer);
    const child = m.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await m.exited;
      clearTimeout(t);
    }
    this.procs.delete(id);
    this.write();
  }

  /** Stops everything, role group by role group in the order given (front ends before back ends before etcd). */
  async stopAll(order: ProcessRole[]): Promise<void> {
    this.running = false;
    for (const role of order) {
      await Promise.all([...this.procs.values()].filter((m) => m.spec.role === role).map((m) => this.remove(m.spec.id)));
    }
    await Promise.all([...this.procs.keys()].map((id) => this.remove(id)));
    this.write();
  }

  ids(role?: ProcessRole): string[] {
    return [...this.procs.values()].filter((m) => role === undefined || m.spec.role === role).map((m) => m.spec.id);
  }

  spec(id: string): ProcessSpec | undefined {
    return this.procs.get(id)?.spec;
  }

  entries(): ProcessEntry[] {
    return [...this.procs.values()].map((m) => {
      const partitions = m.spec.role === 'backend' ? this.opts.partitionsOf?.(m.spec.id) : undefined;
      // The address fields as given: cluster.json lists exactly what the process was started with.
      const { command: _command, args: _args, env: _env, ...address } = m.spec;
      return {
        ...address,
        pid: m.child?.pid ?? null,
        ...(partitions ? { partitions } : {}),
        restarts: m.restarts,
        startedAt: m.child ? new Date(m.startedAt).toISOString() : null,
      };
    });
  }

  file(): ClusterFile {
    return { version: 1, supervisor: { pid: process.pid, running: this.running }, ...this.opts.describe(), processes: this.entries() };
  }

  /** Rewrites cluster.json; called on every change (also by the owner when the map moves partitions). */
  write(): void {
    const file = path.join(this.opts.dataDir, CLUSTER_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.file(), null, 2)}\n`);
      renameSync(tmp, file);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message, file }, 'cannot write cluster.json');
    }
  }
}
