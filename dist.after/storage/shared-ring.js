/**
 * A single-producer, single-consumer byte ring in shared memory: how the event loop hands group
 * commits to the storage thread. postMessage cost the main thread ~30 µs per commit (serializing
 * the request object and waking the other thread), several points of QoS 1 throughput; here the
 * producer copies bytes, moves `head`, and wakes the consumer only when it is asleep.
 *
 * Entries are `u32 length, u32 0, body`, 8-byte aligned, so bodies are 8-byte aligned too: V8 copies
 * into shared memory with a relaxed memmove that goes byte by byte (~10x slower) when source and
 * destination are not equally aligned, and records come from 8-byte aligned memory. An entry never
 * wraps: when the end of the ring is too short, the producer writes a WRAP length there and starts
 * again at 0. The ring is empty when head == tail, so the producer always leaves a free byte.
 */
const HEAD = 0;
const TAIL = 1;
const SLEEPING = 2;
const CONTROL_INTS = 4;
const WRAP = 0xffffffff;
const ALIGN = 8;
const ENTRY_HEAD = 8;
export function createRingMemory(bytes) {
    if (bytes % ALIGN !== 0 || bytes < 64)
        throw new RangeError(`ring size must be a multiple of ${ALIGN} and at least 64, got ${bytes}`);
    return { control: new SharedArrayBuffer(CONTROL_INTS * 4), data: new SharedArrayBuffer(bytes) };
}
const align = (n) => (n + ALIGN - 1) & ~(ALIGN - 1);
/** The producer side (the event loop). */
export class RingWriter {
    control;
    buf;
    /** Where the next entry goes; published to the consumer by `publish()`. */
    head;
    constructor(memory) {
        this.control = new Int32Array(memory.control);
        this.buf = Buffer.from(memory.data);
        // Touched once now, so the ring is resident from the start: a fixed cost, not RSS that creeps
        // up with the first megabytes of traffic (it looked like 0.5 KB per connection in the memory bench).
        this.buf.fill(0);
        this.head = Atomics.load(this.control, HEAD);
    }
    /** The largest body `reserve` can ever place (an entry may use at most half the ring). */
    get maxBody() {
        return this.buf.length / 2 - ENTRY_HEAD;
    }
    /**
     * Reserves an entry of `length` body bytes and returns the body's offset in `buf`, or -1 when
     * the consumer has not freed enough space yet. The entry is visible only after `publish()`.
     */
    reserve(length) {
        if (length > this.maxBody)
            return -1;
        const need = align(ENTRY_HEAD + length);
        const size = this.buf.length;
        const tail = Atomics.load(this.control, TAIL);
        let at = this.head;
        if (at >= tail) {
            const end = at + need;
            if (end > size || (end === size && tail === 0)) {
                // Does not fit before the end: wrap, if the start has room (strictly: head must not reach tail).
                if (need >= tail)
                    return -1;
                this.buf.writeUInt32LE(WRAP, at);
                at = 0;
            }
        }
        else if (at + need >= tail) {
            return -1;
        }
        this.buf.writeUInt32LE(length, at);
        this.buf.writeUInt32LE(0, at + 4);
        this.head = (at + need) % size;
        return at + ENTRY_HEAD;
    }
    /** Makes every reserved entry visible and wakes the consumer if it sleeps. */
    publish() {
        Atomics.store(this.control, HEAD, this.head);
        if (Atomics.load(this.control, SLEEPING) !== 0)
            Atomics.notify(this.control, HEAD);
    }
}
/** The consumer side (the storage thread). */
export class RingReader {
    control;
    buf;
    /** Start of the next unread entry; space before it is freed by `release()`. */
    at;
    constructor(memory) {
        this.control = new Int32Array(memory.control);
        this.buf = Buffer.from(memory.data);
        this.at = Atomics.load(this.control, TAIL);
    }
    /** The next published entry as a view of the ring (valid until `release()`), or undefined. */
    next() {
        if (this.at === Atomics.load(this.control, HEAD))
            return undefined;
        let length = this.buf.readUInt32LE(this.at);
        if (length === WRAP) {
            this.at = 0;
            length = this.buf.readUInt32LE(0);
        }
        const body = this.buf.subarray(this.at + ENTRY_HEAD, this.at + ENTRY_HEAD + length);
        this.at = (this.at + align(ENTRY_HEAD + length)) % this.buf.length;
        return body;
    }
    /** Gives the space of every entry read so far back to the producer. */
    release() {
        Atomics.store(this.control, TAIL, this.at);
    }
    /** Sleeps until the producer publishes, or `timeoutMs` passes. */
    wait(timeoutMs) {
        Atomics.store(this.control, SLEEPING, 1);
        // Announced before this check, so a producer that publishes after it sees SLEEPING and notifies.
        if (Atomics.load(this.control, HEAD) === this.at)
            Atomics.wait(this.control, HEAD, this.at, timeoutMs);
        Atomics.store(this.control, SLEEPING, 0);
    }
}
//# sourceMappingURL=shared-ring.js.map