/**
 * SIGTERM/SIGINT handling of the long-running commands: stop once (a second signal while stopping is
 * ignored), exit 0 when stopped, 1 with the error when stopping failed.
 */
export function stopOnSignals(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stop(signal)
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`edgemq: error while stopping after ${signal}: ${err}\n`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
