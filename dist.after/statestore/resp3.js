/**
 * The RESP3 subset the state store speaks: requests are arrays of blob strings
 * (`*<argc>\r\n` then `$<len>\r\n<bytes>\r\n` per argument); replies are simple strings (`+OK`),
 * errors (`-ERR text`), integers (`:n`), blob strings (`$n` / `$-1`), nulls (`_`) and arrays (`*n`).
 * Pure functions over Buffers; no I/O.
 */
export class RespError {
    message;
    constructor(message) {
        this.message = message;
    }
}
const CRLF = Buffer.from('\r\n');
/** Encodes an array of blob strings: what clients send as a request. */
export function encodeCommand(args) {
    const parts = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
        const b = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
        parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
    }
    return Buffer.concat(parts);
}
/** Parses a request: an array of blob strings and nothing after it. Undefined = malformed. */
export function parseCommand(buf) {
    try {
        const r = new Reader(buf);
        const v = r.value();
        if (r.pos !== buf.length || !Array.isArray(v))
            return undefined;
        if (!v.every((x) => Buffer.isBuffer(x)))
            return undefined;
        return v;
    }
    catch {
        return undefined;
    }
}
/** Parses any reply (used by clients: the Dapr state component and the tests). Throws on malformed input. */
export function parseReply(buf) {
    const r = new Reader(buf);
    const v = r.value();
    if (r.pos !== buf.length)
        throw new Error('trailing bytes after RESP3 reply');
    return v;
}
export function encodeBlob(value) {
    if (value === null)
        return Buffer.from('$-1\r\n');
    return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, CRLF]);
}
export function encodeInt(n) {
    return Buffer.from(`:${n}\r\n`);
}
export function encodeError(text) {
    return Buffer.from(`-ERR ${text}\r\n`);
}
export const OK = Buffer.from('+OK\r\n');
export const NULL = Buffer.from('_\r\n');
export function encodeArray(items) {
    return Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items]);
}
/** Longest accepted length/count field, so a hostile header cannot make us allocate. */
const MAX_LEN = 0x7fffffff;
class Reader {
    buf;
    pos = 0;
    constructor(buf) {
        this.buf = buf;
    }
    line() {
        const end = this.buf.indexOf(CRLF, this.pos);
        if (end < 0)
            throw new Error('unterminated line');
        const s = this.buf.toString('latin1', this.pos, end);
        this.pos = end + 2;
        return s;
    }
    int(text) {
        if (!/^-?\d{1,10}$/.test(text))
            throw new Error(`bad integer ${JSON.stringify(text)}`);
        const n = Number(text);
        if (n > MAX_LEN)
            throw new Error('length too large');
        return n;
    }
    value(depth = 0) {
        if (depth > 8)
            throw new Error('nesting too deep');
        if (this.pos >= this.buf.length)
            throw new Error('unexpected end');
        const kind = String.fromCharCode(this.buf[this.pos]);
        this.pos++;
        const head = this.line();
        switch (kind) {
            case '+':
                return head;
            case '-':
                return new RespError(head.startsWith('ERR ') ? head.slice(4) : head);
            case ':':
                return Number(head);
            case '_':
                return null;
            case '$': {
                const n = this.int(head);
                if (n < 0)
                    return null;
                if (this.pos + n + 2 > this.buf.length)
                    throw new Error('blob string runs past the end');
                const v = this.buf.subarray(this.pos, this.pos + n);
                if (this.buf[this.pos + n] !== 13 || this.buf[this.pos + n + 1] !== 10)
                    throw new Error('blob string not terminated');
                this.pos += n + 2;
                return Buffer.from(v);
            }
            case '*': {
                const n = this.int(head);
                if (n < 0)
                    return null;
                if (n > this.buf.length)
                    throw new Error('array longer than the input');
                const out = [];
                for (let i = 0; i < n; i++)
                    out.push(this.value(depth + 1));
                return out;
            }
            default:
                throw new Error(`unknown RESP3 type ${JSON.stringify(kind)}`);
        }
    }
}
//# sourceMappingURL=resp3.js.map