/**
 * Rich gRPC errors as daprd reads them: a `google.rpc.Status` in the `grpc-status-details-bin` trailer
 * whose details are `google.protobuf.Any`s holding a `google.rpc.BadRequest` (ETag errors) or a
 * `google.rpc.ErrorInfo`. Hand-encoded protobuf (a handful of fields) so no extra proto files are needed.
 */
import * as grpc from '@grpc/grpc-js';
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
function varint(n) {
    const out = [];
    let v = n >>> 0;
    while (v >= 0x80) {
        out.push((v & 0x7f) | 0x80);
        v >>>= 7;
    }
    out.push(v);
    return Buffer.from(out);
}
function field(no, value) {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return Buffer.concat([varint((no << 3) | 2), varint(b.length), b]);
}
function any(typeUrl, value) {
    return Buffer.concat([field(1, typeUrl), field(2, value)]);
}
/** google.rpc.BadRequest{field_violations: [{field, description}]} */
export function badRequest(fieldName, description) {
    return any(BAD_REQUEST_TYPE, field(1, Buffer.concat([field(1, fieldName), field(2, description)])));
}
/** google.rpc.ErrorInfo{reason, domain, metadata} */
export function errorInfo(reason, domain, metadata) {
    const parts = [field(1, reason), field(2, domain)];
    for (const [k, v] of Object.entries(metadata))
        parts.push(field(3, Buffer.concat([field(1, k), field(2, v)])));
    return any(ERROR_INFO_TYPE, Buffer.concat(parts));
}
/** A grpc-js ServiceError carrying google.rpc.Status{code, message, details}. */
export function richError(code, message, details) {
    const status = Buffer.concat([Buffer.from([0x08]), varint(code), field(2, message), ...details.map((d) => field(3, d))]);
    const metadata = new grpc.Metadata();
    metadata.set('grpc-status-details-bin', status);
    return Object.assign(new Error(message), { code, details: message, metadata });
}
export function plainError(code, message) {
    return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}
/** ETag mismatch: FAILED_PRECONDITION + BadRequest(etag) -> daprd ETagError{mismatch} (HTTP 409 / gRPC ABORTED). */
export function etagMismatch(message = 'possible etag mismatch. error from state store') {
    return richError(grpc.status.FAILED_PRECONDITION, message, [badRequest('etag', message)]);
}
/** Malformed ETag: INVALID_ARGUMENT + BadRequest(etag) -> daprd ETagError{invalid} (HTTP 400). */
export function etagInvalid(message = 'invalid etag value') {
    return richError(grpc.status.INVALID_ARGUMENT, message, [badRequest('etag', message)]);
}
function readVarint(b, pos) {
    let v = 0;
    let shift = 0;
    for (;;) {
        const byte = b[pos++];
        v += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80)
            return [v, pos];
        shift += 7;
    }
}
/** Fields of one protobuf message: field number -> list of (varint | bytes). */
export function decodeFields(b) {
    const out = new Map();
    let pos = 0;
    while (pos < b.length) {
        let tag;
        [tag, pos] = readVarint(b, pos);
        const no = tag >>> 3;
        const wire = tag & 7;
        let v;
        if (wire === 0)
            [v, pos] = readVarint(b, pos);
        else if (wire === 2) {
            let len;
            [len, pos] = readVarint(b, pos);
            v = b.subarray(pos, pos + len);
            pos += len;
        }
        else
            throw new Error(`unsupported wire type ${wire}`);
        const list = out.get(no) ?? [];
        list.push(v);
        out.set(no, list);
    }
    return out;
}
export function decodeStatus(b) {
    const f = decodeFields(b);
    return {
        code: f.get(1)?.[0] ?? 0,
        message: (f.get(2)?.[0] ?? Buffer.alloc(0)).toString(),
        details: (f.get(3) ?? []).map((d) => {
            const a = decodeFields(d);
            return { typeUrl: (a.get(1)?.[0] ?? Buffer.alloc(0)).toString(), value: a.get(2)?.[0] ?? Buffer.alloc(0) };
        }),
    };
}
//# sourceMappingURL=rpc-status.js.map