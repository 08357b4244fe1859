/**
 * How a group commit's commands become one log record, and back. MessagePack (msgpackr) is the
 * encoding; v8.serialize is read too, and still written for the rare batch msgpackr cannot carry
 * exactly (see below).
 *
 * Why not v8.serialize for everything: besides costing ~1.8x the CPU per command, a v8 Serializer
 * keeps every object it serialized alive until the serializer itself is collected, which only a
 * full GC does. Every command and message of the durable path was therefore promoted to the old
 * generation: slow scavenges (4-6 ms at 5k msg/s) that set the broker's p99 latency, and
 * mark-compacts on top. msgpackr is plain JavaScript and holds nothing after `pack` returns.
 */
import v8 from 'node:v8';
import { Packr } from 'msgpackr';
import type { Command } from '../partition/commands.js';

// Records (msgpackr's key-list compression) are defined inside each record, so every record
// decodes on its own, in any order, with a fresh decoder. Buffers are copied out on decode so a
// recovered message does not pin its whole log record in memory.
const packr = new Packr({ useRecords: true, copyBuffers: true, mapsAsObjects: true });

const V8_SERIALIZED = 0xff; // first byte of every v8.serialize output; never the first byte of a packed array

export function encodeCommands(commands: Command[]): Buffer {
  if (needsV8(commands)) return v8.serialize(commands);
  // A view into msgpackr's output buffer; later packs write after it or into a fresh buffer, never over it.
  return packr.pack(commands);
}

export function decodeCommands(record: Buffer): Command[] {
  if (record[0] === V8_SERIALIZED) return v8.deserialize(record) as Command[];
  const commands = packr.unpack(record) as unknown;
  if (!Array.isArray(commands)) throw new Error('log record is not a list of commands');
  return commands as Command[];
}

/**
 * MessagePack maps decode into plain objects, where a key named `__proto__` cannot be an own key
 * (msgpackr renames it). User property names are the only object keys a client chooses; a batch
 * carrying such a name keeps the v8 encoding, which preserves it exactly.
 */
function needsV8(commands: Command[]): boolean {
  for (const c of commands) {
    const props = c.type === 'publish' ? c.message.properties : c.type === 'connect' ? c.will?.message.properties : undefined;
    if (props?.userProperties && Object.hasOwn(props.userProperties, '__proto__')) return true;
  }
  return false;
}
