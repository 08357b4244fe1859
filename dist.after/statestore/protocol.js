/**
 * The state store's commands as they travel in RESP3: turning a request's arguments into a
 * `KvOp` (with Azure's error strings for what is wrong), and a `KvResult` into reply bytes.
 *
 * Azure IoT MQ's verbs: `SET key value [NX|NEX] [PX ms]`, `GET key`, `DEL key`, `VDEL key value`,
 * `KEYNOTIFY key [STOP]`. edgemq extensions (used by the Dapr state component; Azure clients never
 * send them, so never see their replies):
 *   `XGET key [key ...]` -> array with, per key, `_` (absent) or `*3 $value $version :expiresAtMs` (0 = none);
 *   `XTX op [op ...]`    -> `+OK` (all applied under one new version), `:-1` (a condition failed, nothing
 *                           applied) or `-ERR`. Each op is `SET key value [IFVER version | IFABSENT] [PX ms]`
 *                           or `DEL key [IFVER version]`; conditions see the earlier ops of the same XTX.
 * Verbs and options are matched case-insensitively (Azure's SDKs send upper case; its docs show lower case).
 */
import { KvErrors } from '../partition/kv-store.js';
import { encodeArray, encodeBlob, encodeError, encodeInt, NULL, OK } from './resp3.js';
const fail = (message) => ({ ok: false, message });
export function parseOp(args) {
    if (args.length === 0)
        return fail(KvErrors.syntax);
    const verb = word(args[0]);
    switch (verb) {
        case 'SET': {
            if (args.length < 3)
                return fail(KvErrors.wrongArgs);
            const op = { verb: 'SET', key: args[1], value: args[2] };
            for (let i = 3; i < args.length; i++) {
                const o = word(args[i]);
                if ((o === 'NX' || o === 'NEX') && op.condition === undefined)
                    op.condition = o;
                else if (o === 'PX' && op.ttlMs === undefined && i + 1 < args.length) {
                    const ms = positiveInt(args[++i]);
                    if (ms === undefined)
                        return fail(KvErrors.syntax);
                    op.ttlMs = ms;
                }
                else
                    return fail(KvErrors.syntax);
            }
            return keyed(op, op.key);
        }
        case 'GET':
        case 'DEL':
            if (args.length !== 2)
                return fail(KvErrors.wrongArgs);
            return keyed({ verb, key: args[1] }, args[1]);
        case 'VDEL':
            if (args.length !== 3)
                return fail(KvErrors.wrongArgs);
            return keyed({ verb, key: args[1], value: args[2] }, args[1]);
        case 'KEYNOTIFY': {
            if (args.length !== 2 && args.length !== 3)
                return fail(KvErrors.wrongArgs);
            if (args.length === 3 && word(args[2]) !== 'STOP')
                return fail(KvErrors.syntax);
            return keyed({ verb, key: args[1], stop: args.length === 3 }, args[1]);
        }
        case 'XGET': {
            if (args.length < 2)
                return fail(KvErrors.wrongArgs);
            const keys = args.slice(1);
            if (keys.some((k) => k.length === 0))
                return fail(KvErrors.emptyKey);
            return { ok: true, op: { verb, keys } };
        }
        case 'XTX':
            return parseTransaction(args);
        default:
            return fail(KvErrors.unknownCommand);
    }
}
function parseTransaction(args) {
    const ops = [];
    let i = 1;
    while (i < args.length) {
        const verb = word(args[i]);
        if (verb === 'SET') {
            if (i + 2 >= args.length)
                return fail(KvErrors.wrongArgs);
            const op = { verb, key: args[i + 1], value: args[i + 2] };
            i += 3;
            while (i < args.length) {
                const o = word(args[i]);
                if (o === 'IFVER' && i + 1 < args.length && op.ifVersion === undefined && !op.ifAbsent) {
                    op.ifVersion = args[i + 1].toString('utf8');
                    i += 2;
                }
                else if (o === 'IFABSENT' && op.ifVersion === undefined && !op.ifAbsent) {
                    op.ifAbsent = true;
                    i += 1;
                }
                else if (o === 'PX' && i + 1 < args.length && op.ttlMs === undefined) {
                    const ms = positiveInt(args[i + 1]);
                    if (ms === undefined)
                        return fail(KvErrors.syntax);
                    op.ttlMs = ms;
                    i += 2;
                }
                else if (o === 'SET' || o === 'DEL')
                    break;
                else
                    return fail(KvErrors.syntax);
            }
            ops.push(op);
        }
        else if (verb === 'DEL') {
            if (i + 1 >= args.length)
                return fail(KvErrors.wrongArgs);
            const op = { verb, key: args[i + 1] };
            i += 2;
            if (i < args.length && word(args[i]) === 'IFVER') {
                if (i + 1 >= args.length)
                    return fail(KvErrors.wrongArgs);
                op.ifVersion = args[i + 1].toString('utf8');
                i += 2;
            }
            ops.push(op);
        }
        else
            return fail(KvErrors.syntax);
    }
    if (ops.length === 0)
        return fail(KvErrors.wrongArgs);
    if (ops.some((o) => o.key.length === 0))
        return fail(KvErrors.emptyKey);
    return { ok: true, op: { verb: 'XTX', ops } };
}
function keyed(op, key) {
    return key.length === 0 ? fail(KvErrors.emptyKey) : { ok: true, op };
}
function word(b) {
    return b.length > 16 ? '' : b.toString('latin1').toUpperCase();
}
function positiveInt(b) {
    const s = b.toString('latin1');
    if (!/^\d{1,15}$/.test(s))
        return undefined;
    const n = Number(s);
    return n > 0 ? n : undefined;
}
/** The keys an operation reads and writes, for authorization. */
export function accessOf(op) {
    switch (op.verb) {
        case 'GET':
        case 'KEYNOTIFY':
            return { read: [op.key], write: [] };
        case 'XGET':
            return { read: op.keys, write: [] };
        case 'SET':
        case 'DEL':
        case 'VDEL':
            return { read: [], write: [op.key] };
        case 'XTX':
            return { read: [], write: op.ops.map((o) => o.key) };
    }
}
export function encodeResult(r) {
    switch (r.type) {
        case 'ok':
            return OK;
        case 'int':
            return encodeInt(r.value);
        case 'blob':
            return encodeBlob(r.value);
        case 'error':
            return encodeError(r.message);
        case 'entries':
            return encodeArray(r.entries.map((e) => e ? encodeArray([encodeBlob(e.value), encodeBlob(Buffer.from(e.version)), encodeInt(e.expiresAt ?? 0)]) : NULL));
    }
}
/**
 * The partition key of a state-store key: the part before the first `||` (Dapr prefixes keys with
 * `<appId>||`), else the whole key. On a cluster the keys go to `hash(partitionKey) % P`, so every key of
 * one Dapr app lands in one partition and an XTX over them stays atomic.
 */
export function partitionKeyOf(key) {
    const i = key.indexOf('||');
    return i > 0 ? key.subarray(0, i) : key;
}
//# sourceMappingURL=protocol.js.map