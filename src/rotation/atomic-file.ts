import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A file's bytes and the metadata they were read with (from the same open file). */
export interface FileSnapshot {
  bytes: Buffer;
  stat: Stats;
}

/** Reads a regular file and its metadata from one file descriptor. */
export function readSnapshot(file: string): FileSnapshot {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; for a regular file it changes nothing.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${file} is not a regular file`);
    return { bytes: readFileSync(fd), stat };
  } finally {
    closeSync(fd);
  }
}

/**
 * The name of the temporary file a rewrap of `file` writes before renaming it over `file`: hidden, next to it (a
 * rename is atomic only within one file system), and ending in `.tmp`, so no `*.json` glob or loader picks it up.
 */
export function temporaryFileName(file: string): string {
  return `.${basename(file)}.rewrap-${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * The temporary files that an interrupted rewrap of `file` left next to it (a kill between creating one and
 * renaming it). They hold only ciphertext, never plaintext, and the file itself is intact, old or new.
 */
export function findStaleTemporaryFiles(file: string): string[] {
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(file))}\\.rewrap-[0-9a-f]{12}\\.tmp$`);
  return readdirSync(dirname(file))
    .filter((name) => pattern.test(name))
    .sort()
    .map((name) => join(dirname(file), name));
}

/** Removes what {@link findStaleTemporaryFiles} finds and returns their paths. Rewraps of one file must not overlap. */
export function removeStaleTemporaryFiles(file: string): string[] {
  const stale = findStaleTemporaryFiles(file);
  for (const path of stale) unlinkQuietly(path);
  return stale;
}

/**
 * Replaces `file` with `content` so that after a crash at any point the file holds either its old bytes or all of
 * the new ones: write a temporary file in the same directory with the original's mode, owner and group, fsync it,
 * check that the original has not changed since `expected` was read, rename it over the original, fsync the
 * directory so that the rename itself is durable.
 */
export function replaceFileAtomically(file: string, content: Uint8Array, expected: Stats): void {
  const directory = dirname(file);
  const temporary = join(directory, temporaryFileName(file));
  // Owner-only until the original's mode is copied; O_EXCL and O_NOFOLLOW: never write through someone's link.
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  let renamed = false;
  try {
    try {
      const created = fstatSync(fd);
      if (created.uid !== expected.uid || created.gid !== expected.gid) {
        try {
          fchownSync(fd, expected.uid, expected.gid);
        } catch (cause) {
          throw new Error(`cannot give the new ${file} the owner and group of the old one`, { cause });
        }
      }
      // After chown, which clears set-id bits; the open mode went through the umask, this does not.
      fchmodSync(fd, expected.mode & 0o7777);
      for (let written = 0; written < content.length; ) {
        written += writeSync(fd, content, written, content.length - written);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const current = statSync(file);
    if (current.ino !== expected.ino || current.size !== expected.size || current.mtimeMs !== expected.mtimeMs) {
      throw new Error(`${file} changed while it was being rewrapped`);
    }
    renameSync(temporary, file);
    renamed = true;
  } finally {
    if (!renamed) unlinkQuietly(temporary);
  }
  fsyncDirectory(directory);
}

function fsyncDirectory(directory: string): void {
  // Windows cannot open a directory for fsync; its renames are made durable by the file system itself.
  if (process.platform === 'win32') return;
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
