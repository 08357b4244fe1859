/**
 * The format marker a store writes and the ones it reads. /4: records may refer back to a string
 * (command-codec.ts); /3 records (plain frames) and /2 (v8-serialized) are still read, and an opened
 * directory is re-marked /4 so that an older edgemq refuses it instead of misreading new records.
 */
export const STORE_FORMAT = 'edgemq.partition-store/4';
export const READABLE_STORE_FORMATS = [STORE_FORMAT, 'edgemq.partition-store/3', 'edgemq.partition-store/2'];
/** The data directory cannot be used: corrupt, foreign, or locked by another process. */
export class StorageError extends Error {
    location;
    code = 'EDGEMQ_STORAGE';
    constructor(message, location, options) {
        super(message, options);
        this.location = location;
        this.name = 'StorageError';
    }
}
/**
 * The sequence number a snapshot was taken after, as both stores keep it on disk: 8 bytes, big-endian.
 * (A missing value reads as 0: no snapshot yet.)
 */
export function encodeSnapshotSeq(seq) {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(seq));
    return b;
}
export function decodeSnapshotSeq(raw) {
    return raw ? Number(raw.readBigUInt64BE()) : 0;
}
export const LOG_GAP_CODE = 'EDGEMQ_LOG_GAP';
/** An append refused because an earlier write failed and no snapshot has closed the hole yet. */
export class LogGapError extends Error {
    code = LOG_GAP_CODE;
    constructor() {
        super('an earlier write failed; appends wait for the next snapshot');
    }
}
//# sourceMappingURL=partition-store.js.map