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
 */
export const ROLE_SEMI_SPACE_MB = 32;

/** `execArgv` with the young generation set for a role (any size given there replaced). */
export function roleNodeFlags(execArgv: readonly string[]): string[] {
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
  return out;
}
