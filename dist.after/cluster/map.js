/**
 * The cluster map: which back-end nodes hold each partition, which slots each partition owns, and
 * which front ends serve clients. It is one value, changed only by compare-and-swap in the
 * configuration store (etcd off Kubernetes), ordered by `epoch`. Every process watches it and every
 * internal frame carries the epoch it was sent under.
 *
 * Keys (client ids, retained topics, state-store keys) are placed by `slotOf`: CRC-32 (IEEE, the
 * zlib/Ethernet polynomial, as Node's `zlib.crc32`) of the key's UTF-8 bytes, modulo `SLOT_COUNT`.
 * The hash and the slot count are part of the on-disk and on-wire contract: changing either moves
 * every key. A change of partition count moves slot ranges, not keys.
 */
import { crc32 } from 'node:zlib';
export const SLOT_COUNT = 1024;
/** Stable slot of a key (client id, topic, or state-store key). */
export function slotOf(key) {
    return crc32(key) % SLOT_COUNT;
}
/** The partition that owns a slot, or -1 when the map does not cover it (a map under construction). */
export function partitionOfSlot(map, slot) {
    for (const r of map.slots)
        if (slot >= r.from && slot < r.to)
            return r.partition;
    return -1;
}
export function partitionOf(map, key) {
    return partitionOfSlot(map, slotOf(key));
}
/** P partitions with contiguous, near-equal slot ranges: the initial layout of a new cluster. */
export function evenSlots(partitions) {
    const out = [];
    for (let p = 0; p < partitions; p++) {
        out.push({ from: Math.floor((p * SLOT_COUNT) / partitions), to: Math.floor(((p + 1) * SLOT_COUNT) / partitions), partition: p });
    }
    return out;
}
/** A map that never changes: single-process tests and fixtures. */
export class FixedMapSource {
    map;
    constructor(map) {
        this.map = map;
    }
    current() {
        return this.map;
    }
    onChange() {
        return () => { };
    }
}
//# sourceMappingURL=map.js.map