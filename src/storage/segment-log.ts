/**
 * The command log of a SQLite data directory, as plain append-only files beside `partition.sqlite`
 * (which keeps the lock, the format marker and the snapshot). Why files and not the SQLite table
 * the log used to be: a group commit is one `writev` on the event loop, in the OS when it returns
 * (`os` durability) with nothing else to wait for; through SQLite it was a transaction on a thread
 * of its own and an answer back, which at moderate rates doubled the broker's CPU per message and
 * tripled its p99 against `memory` mode (README, design notes). `fsync` mode adds one `fdatasync` per group of appends,
 * off the event loop, shared by every append that arrives while it runs.
 *
 * A segment `log-<first seq, 20 digits>` holds frames `u32 length, u32 crc32, f64 seq, u32 count,
 * record`, the CRC over everything after itself. A new segment starts after every snapshot; the
 * older ones are deleted once the snapshot is stored. Reading stops at the first frame that is
 * incomplete or fails its CRC: the torn tail of a crash, cut off before the next append.
 */
import { closeSync, fdatasync, fsync, openSync, readFileSync, readdirSync, ftruncateSync, unlinkSync, writevSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';

export interface LogRecord {
  seq: number;
  count: number;
  record: Buffer;
}

const HEADER = 20;
const NO_BYTES = Buffer.alloc(0);
const PREFIX = 'log-';
const NAME = /^log-(\d{20})$/;

function segmentName(firstSeq: number): string {
  return PREFIX + String(firstSeq).padStart(20, '0');
}

/** The frames of one segment up to the first bad one, and where the good part ends. */
export function readSegment(data: Buffer): { records: LogRecord[]; goodBytes: number } {
  const records: LogRecord[] = [];
  let at = 0;
  while (at + HEADER <= data.length) {
    const length = data.readUInt32LE(at);
    const end = at + HEADER + length;
    if (end > data.length) break;
    if (crc32(data.subarray(at + 8, end)) !== data.readUInt32LE(at + 4)) break;
    records.push({ seq: data.readDoubleLE(at + 8), count: data.readUInt32LE(at + 16), record: data.subarray(at + HEADER, end) });
    at = end;
  }
  return { records, goodBytes: at };
}

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class SegmentLog {
  private fd = -1;
  private segment = '';
  /** Header memory reused from one append to the next (writev takes it before returning). */
  private headers = Buffer.allocUnsafe(HEADER * 64);
  /** Views of `headers`, one per record slot, and of the part each CRC covers: made once, not per append. */
  private headerViews: Buffer[] = [];
  private crcViews: Buffer[] = [];
  /** The writev list, reused likewise (its record entries are dropped after each write). */
  private readonly parts: Buffer[] = [];
  /** fsync mode: appends written and waiting for the fdatasync after the one in progress. */
  private unsynced: Waiter[] = [];
  private syncing = false;

  constructor(readonly dir: string) {}

  /** Segment files, oldest first. */
  segments(): string[] {
    return readdirSync(this.dir)
      .filter((f) => NAME.test(f))
      .sort();
  }

  /**
   * Every readable record of every segment, oldest first, and the segment appends go on: the last
   * one, cut back to its last good frame, or a new one from `nextSeq` when there is none.
   */
  open(nextSeq: number, repaired: string[] = []): LogRecord[] {
    const records: LogRecord[] = [];
    const names = this.segments();
    for (const name of names) {
      const data = readFileSync(path.join(this.dir, name));
      const seg = readSegment(data);
      for (const r of seg.records) records.push(r);
      if (name === names[names.length - 1]) {
        this.fd = openSync(path.join(this.dir, name), 'a'); // O_APPEND: after the cut below
        this.segment = name;
        if (seg.goodBytes < data.length) {
          ftruncateSync(this.fd, seg.goodBytes);
          repaired.push(`cut ${data.length - seg.goodBytes} bytes of an incomplete or damaged last frame off ${name} (after ${seg.records.length} whole frames)`);
        }
      }
    }
    if (this.fd < 0) this.startSegment(nextSeq);
    return records;
  }

  /** Appends in one write: in the OS when this returns. Throws what the write threw (e.g. ENOSPC). */
  write(records: readonly LogRecord[]): void {
    if (this.fd < 0) throw Object.assign(new Error('no log segment is open (an earlier one could not be created)'), { code: 'EBADF' });
    if (this.headers.length < HEADER * records.length) {
      this.headers = Buffer.allocUnsafe(HEADER * records.length * 2);
      this.headerViews = [];
      this.crcViews = [];
    }
    const parts = this.parts;
    let total = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (i === this.headerViews.length) {
        this.headerViews.push(this.headers.subarray(i * HEADER, (i + 1) * HEADER));
        this.crcViews.push(this.headers.subarray(i * HEADER + 8, (i + 1) * HEADER));
      }
      const h = this.headerViews[i];
      h.writeUInt32LE(r.record.length, 0);
      h.writeDoubleLE(r.seq, 8);
      h.writeUInt32LE(r.count, 16);
      h.writeUInt32LE(crc32(r.record, crc32(this.crcViews[i])), 4);
      parts[2 * i] = h;
      parts[2 * i + 1] = r.record;
      total += HEADER + r.record.length;
    }
    parts.length = 2 * records.length; // shortening keeps the array's memory; emptying it would not
    try {
      let written = writevSync(this.fd, parts);
      // A regular file takes a whole writev unless the disk fills up; finish a short one or fail.
      while (written < total) {
        const rest = Buffer.concat(parts).subarray(written);
        const n = writevSync(this.fd, [rest]);
        if (n === 0) throw Object.assign(new Error('short write to the command log'), { code: 'EIO' });
        written += n;
      }
    } finally {
      // The records are the caller's again: a large one is not kept alive until the next append.
      for (let i = 1; i < parts.length; i += 2) parts[i] = NO_BYTES;
    }
  }

  /** Resolves once everything written so far is on the disk (one fdatasync serves every caller waiting meanwhile). */
  synced(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.unsynced.push({ resolve, reject });
      if (!this.syncing) this.syncNext();
    });
  }

  private syncNext(): void {
    const batch = this.unsynced;
    this.unsynced = [];
    this.syncing = true;
    fdatasync(this.fd, (err) => {
      this.syncing = false;
      for (const w of batch) {
        if (err) w.reject(err);
        else w.resolve();
      }
      if (this.unsynced.length > 0) this.syncNext();
    });
  }

  /** An fdatasync is running or asked for. */
  syncBusy(): boolean {
    return this.syncing || this.unsynced.length > 0;
  }

  /**
   * Later appends go to a new segment starting at `firstSeq` (after a snapshot through firstSeq - 1).
   * Not while syncBusy(): an fdatasync syncs one file, and it must be the one its appends went to.
   */
  startSegment(firstSeq: number): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.segment = segmentName(firstSeq);
    this.fd = openSync(path.join(this.dir, this.segment), 'a');
  }

  /** Makes the new segment's name durable (fsync mode). */
  syncDirectory(): Promise<void> {
    const dirFd = openSync(this.dir, 'r');
    return new Promise((resolve, reject) =>
      fsync(dirFd, (err) => {
        closeSync(dirFd);
        if (err) reject(err);
        else resolve();
      }),
    );
  }

  /**
   * Deletes the segments that hold nothing after `seq` (a snapshot through `seq` is stored): each
   * one whose successor starts at or before `seq + 1`. The segment being written always stays.
   */
  dropThrough(seq: number): void {
    const names = this.segments();
    for (let i = 0; i + 1 < names.length; i++) {
      if (names[i] >= this.segment) break;
      if (Number(NAME.exec(names[i + 1])![1]) > seq + 1) break;
      unlinkSync(path.join(this.dir, names[i]));
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
