import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ensurePrivateFile, PRIVATE_MODE } from './private-file.js';

export interface Rotation {
  /** Largest size of the live file in bytes before it is rotated; 0 never rotates (leave it to logrotate). */
  readonly maxBytes: number;
  /** Rotated files kept beside it (`FILE.1` newest … `FILE.N` oldest); older ones are deleted. */
  readonly files: number;
}

/** Rotates at 64 MiB and keeps 5 old files: at most 384 MiB of audit trail unless configured otherwise. */
export const DEFAULT_ROTATION: Rotation = { maxBytes: 64 * 1024 * 1024, files: 5 };

/**
 * An append-only file of whole lines, mode 0600, written synchronously. Rotates by size (a line is never split
 * across files) and keeps a bounded number of old files; `reopen()` follows a file moved away by logrotate (on
 * SIGHUP), so either way the disk it takes stays bounded.
 */
export class RotatingLogFile {
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly path: string,
    readonly rotation: Rotation = DEFAULT_ROTATION,
  ) {
    if (!Number.isInteger(rotation.files) || rotation.files < 1 || rotation.files > 1000) {
      throw new Error(`${rotation.files} is not a number of rotated files: expected 1 to 1000`);
    }
    this.open();
  }

  /** Appends one line (the newline is added). */
  writeLine(line: string): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    const bytes = Buffer.from(`${line}\n`);
    if (this.rotation.maxBytes > 0 && this.size > 0 && this.size + bytes.length > this.rotation.maxBytes) {
      this.rotate();
    }
    writeSync(this.fd!, bytes);
    this.size += bytes.length;
  }

  /** Closes and opens the path again: after logrotate renamed the file, writing continues in a new one. */
  reopen(): void {
    this.close();
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    ensurePrivateFile(this.path);
    this.fd = openSync(this.path, 'a', PRIVATE_MODE);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    rmSync(`${this.path}.${this.rotation.files}`, { force: true });
    for (let n = this.rotation.files - 1; n >= 1; n--) {
      try {
        renameSync(`${this.path}.${n}`, `${this.path}.${n + 1}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    renameSync(this.path, `${this.path}.1`);
    this.open();
  }
}
