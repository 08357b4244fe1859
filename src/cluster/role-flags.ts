/**
 * Node's flags for the data-plane roles (`edgemq frontend|backend` started by `edgemq cluster`).
 *
 * `edgemq serve` keeps its young generation at 8 MB (main.ts's shebang: fewer bytes per idle
 * connection and a shorter latency tail on one node). A front end and a back end each hold a whole
 * stream in flight between them (the commands, replies and deliveries of thousands of unacknowledged
 * messages), and at 8 MB they scavenge them again and again. 32 MB against 8 MB, two A/B runs on
 * the cluster bench (F1 P1, 4 repetitions each, 64 B, medians): fan-in QoS 1 254,647 -> 295,117 and
 * 261,959 -> 290,299 msg/s, fan-out QoS 1 683,205 -> 753,871 and 707,891 -> 764,304 (higher in 15
 * of the 16 pairs); p99 at 5k msg/s 2.06 -> 1.69 and 1.39 -> 2.15 ms (noise); the roles' RSS under
 * fan-in 542-599 -> 644-664 MB (summed over the processes).
 *
 * When the processes started on the machine are at least as many as its CPUs, every role also
 * collects garbage on its own thread (`--single-threaded-gc`). V8's parallel scavenge and
 * concurrent marking run helper threads that only compete with the other roles' main threads for
 * the same cores, and a main thread waits for a helper the scheduler has put aside (5-7 ms delays
 * of those helpers in a `perf sched` trace of fan-out QoS 1 on 2 vCPUs). A/B on the cluster bench
 * (F1 P1, 2 vCPUs, 6 pairs each, 64 B): fan-out QoS 1 median 255k -> 283k deliveries/s (higher in
 * 6 of 6 pairs), fan-in QoS 1 113k -> 115k (4 of 6), p99 at 5k msg/s 5.8 -> 5.1 ms (noise).
 */
export const ROLE_SEMI_SPACE_MB = 32;

export interface RoleHost {
  /** Node processes that run on this machine for the cluster (roles, coordinator, etcd). */
  processes: number;
  /** CPUs this process may run on (os.availableParallelism()). */
  cpus: number;
}

/** Flags that choose how V8 threads its garbage collection: an operator's choice is kept. */
const GC_THREADING = /^--(no-)?(single-threaded-gc|single-threaded|parallel-scavenge|concurrent-marking|parallel-marking)(=|$)/;

/** `execArgv` with the young generation set for a role (any size given there replaced), and GC threading for a crowded machine. */
export function roleNodeFlags(execArgv: readonly string[], host?: RoleHost): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const f = execArgv[i];
    if (f === '--max-semi-space-size') {
      i++; // its value follows as the next argument
      continue;
    }
    if (f.startsWith('--max-semi-space-size=')) continue;
    out.push(f);
  }
  out.push(`--max-semi-space-size=${ROLE_SEMI_SPACE_MB}`);
  if (host !== undefined && host.processes >= host.cpus && !execArgv.some((f) => GC_THREADING.test(f))) out.push('--single-threaded-gc');
  return out;
}
