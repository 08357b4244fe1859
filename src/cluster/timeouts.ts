/**
 * The control plane's timeouts, named in one place so the README and the tests can point at them.
 * Failure detection is the lease: a process that stops renewing disappears from the membership
 * after MEMBER_LEASE_TTL_SECONDS (etcd's lease expiry; the client renews every TTL/3).
 */

/** Lease of a front end's or back end's membership key. A SIGKILLed process leaves the map within about this long. */
export const MEMBER_LEASE_TTL_SECONDS = 3;

/** Lease behind the coordinator's leadership key: a dead coordinator is replaced within about this long. */
export const LEADER_LEASE_TTL_SECONDS = 3;

/** Deadline of one unary call to the store (get, put, transaction). Longer means etcd is down: retry later. */
export const STORE_CALL_TIMEOUT_MS = 2000;

/** After a failed store call the caller waits this long before it tries again (re-register, re-campaign, re-plan). */
export const STORE_RETRY_MS = 500;

/**
 * Ceiling of the store client's reconnect backoff (gRPC channel and watch streams). The libraries'
 * defaults grow to 30 s (watches) and 120 s (channels): after an etcd outage of a few seconds the map
 * watch would resume up to half a minute after etcd was back.
 */
export const STORE_RECONNECT_MAX_MS = 1000;

/** The coordinator waits for membership events to settle this long before planning (several nodes start at once). */
export const COORDINATOR_SETTLE_MS = 100;

/** Supervisor restart backoff: first delay, doubled per quick crash up to the maximum. */
export const RESTART_BACKOFF_MIN_MS = 200;
export const RESTART_BACKOFF_MAX_MS = 5000;
/** A child that ran this long before it died is restarted with the minimum delay again. */
export const RESTART_BACKOFF_RESET_MS = 10_000;

/**
 * Data plane: a QoS 1/2 append with an idempotency key whose partition head died unanswered is sent
 * again to the new head (and refused only after this long, counted from its first sending): the
 * map names the successor after about MEMBER_LEASE_TTL_SECONDS plus the coordinator's settling.
 */
export const KEYED_RETRY_WAIT_MS = 10_000;

/** A keyed append refused before it was applied (not the head, stale epoch) is sent again after this long. */
export const KEYED_RETRY_DELAY_MS = 100;
