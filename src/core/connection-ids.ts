/**
 * Connection ids are unique cluster-wide: a front end's random instance number times 2^32 plus its
 * own local id. A back end tells from an id whose connection a delivery or a kick is for, and a
 * partition which front end a state-store registration was made through. On one node the instance
 * is 0 and the id is the front end's own.
 */
const INSTANCE_SPAN = 2 ** 32;

export function globalConnectionId(instance: number, localId: number): number {
  return instance * INSTANCE_SPAN + (localId >>> 0);
}

/** The front-end instance holding a connection (0 on one node). */
export function instanceOf(connectionId: number): number {
  return Math.floor(connectionId / INSTANCE_SPAN);
}
