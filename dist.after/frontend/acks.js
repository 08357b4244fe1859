/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP are the most frequent packets on a QoS 1/2 path and almost
 * always the 4-byte form: fixed header, Remaining Length 2, packet id. MQTT 5 allows that form too
 * when the reason code is 0x00 and there are no properties (3.4.2.1). Writing those four bytes
 * directly saves a full mqtt-packet encode per acknowledgement; anything else takes the codec.
 */
const FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 };
export function shortAck(cmd, packetId) {
    const b = Buffer.allocUnsafe(4);
    b[0] = FIRST_BYTE[cmd];
    b[1] = 2;
    b[2] = packetId >> 8;
    b[3] = packetId & 0xff;
    return b;
}
//# sourceMappingURL=acks.js.map