/**
 * Waits until `count()` reaches `target` or stops moving for `quietMs` (checked every 100 ms), for
 * floods whose receivers may be held back for a while by pushback: the caller then asserts what
 * arrived. Gives up at `timeoutMs` in any case.
 */
export async function settled(count: () => number, target: number, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let lastChange = Date.now();
  while (count() < target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (count() !== last) {
      last = count();
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) return;
  }
}
