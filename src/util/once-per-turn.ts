/**
 * Runs `fn` once in the check phase of the current event-loop turn however often the returned
 * function is called during it: a turn's frames leave together.
 */
export function oncePerTurn(fn: () => void): () => void {
  let queued = false;
  const run = () => {
    queued = false;
    fn();
  };
  return () => {
    if (queued) return;
    queued = true;
    setImmediate(run);
  };
}
