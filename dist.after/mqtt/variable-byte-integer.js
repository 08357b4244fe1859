/** MQTT's Variable Byte Integer (1.5.5): 7 bits per byte, least significant first, at most 4 bytes. */
export const VARIABLE_BYTE_INTEGER_MAX = 268_435_455;
/** Bytes the integer takes on the wire. */
export function varIntSize(n) {
    return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}
/** Writes `n` at `at`; returns the offset after it. */
export function writeVarInt(buf, at, n) {
    do {
        const byte = n % 128;
        n = Math.floor(n / 128);
        buf[at++] = n > 0 ? byte | 0x80 : byte;
    } while (n > 0);
    return at;
}
//# sourceMappingURL=variable-byte-integer.js.map