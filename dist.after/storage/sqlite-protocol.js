/** Int32 slots of `WorkerData.signals`. */
export const ANSWERED = 0;
/** Set by the event loop while it looks at ANSWERED on its own; clear: post a message to wake it. */
export const POLLING = 1;
/**
 * Ring entry bodies. APPEND: `u8 0x01, u8 sync, u16 0, u32 records, record*`, record = `f64 seq,
 * u32 count, u32 length, bytes`. PORT: `u8 0x02`, the next message on the port.
 */
export const ENTRY_APPEND = 0x01;
export const ENTRY_PORT = 0x02;
export const APPEND_HEAD = 8;
export const RECORD_HEAD = 16;
export function appendEntryLength(records) {
    let n = APPEND_HEAD;
    for (const r of records)
        n += RECORD_HEAD + r.record.length;
    return n;
}
export function writeAppendEntry(out, at, records, sync) {
    out[at] = ENTRY_APPEND;
    out[at + 1] = sync ? 1 : 0;
    out.writeUInt16LE(0, at + 2);
    out.writeUInt32LE(records.length, at + 4);
    at += APPEND_HEAD;
    for (const r of records) {
        out.writeDoubleLE(r.seq, at);
        out.writeUInt32LE(r.count, at + 8);
        out.writeUInt32LE(r.record.length, at + 12);
        out.set(r.record, at + RECORD_HEAD);
        at += RECORD_HEAD + r.record.length;
    }
}
/** Calls `each` for every record of an APPEND entry; `record` is a view of the entry. */
export function readAppendEntry(body, each) {
    const n = body.readUInt32LE(4);
    let at = APPEND_HEAD;
    for (let i = 0; i < n; i++) {
        const length = body.readUInt32LE(at + 12);
        each(body.readDoubleLE(at), body.readUInt32LE(at + 8), body.subarray(at + RECORD_HEAD, at + RECORD_HEAD + length));
        at += RECORD_HEAD + length;
    }
}
//# sourceMappingURL=sqlite-protocol.js.map