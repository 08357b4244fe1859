/**
 * The chain's own timeouts (failure detection itself is the membership lease in etcd:
 * MEMBER_LEASE_TTL_SECONDS in cluster/timeouts.ts; the coordinator re-forms chains from it).
 */

/** A successor whose link to its predecessor broke (or was refused: maps not yet in step) dials again after this long. */
export const CHAIN_REDIAL_MS = 100;
