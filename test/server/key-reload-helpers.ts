import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A fresh key value as a key file holds it. */
export function keyFile(key = randomBytes(32)): string {
  return `base64:${key.toString('base64')}\n`;
}

/**
 * Writes `files` into `dir` the way the kubelet updates a mounted Secret (its AtomicWriter): the files go into a new
 * timestamped directory, a `..data_tmp` symlink to it is renamed over `..data` in one step, each visible name is a
 * symlink into `..data`, names no longer present are removed, and the previous timestamped directory is deleted.
 */
export function writeSecretDir(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  const previous = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined;
  const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${randomBytes(3).toString('hex')}`;
  mkdirSync(join(dir, stamp));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, stamp, name), content, { mode: 0o440 });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..') || name in files) continue;
    if (lstatSync(join(dir, name)).isSymbolicLink()) rmSync(join(dir, name));
  }
  if (previous) rmSync(join(dir, previous), { recursive: true, force: true });
}
