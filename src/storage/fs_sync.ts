import { open } from 'node:fs/promises';

/**
 * fsync of a directory: makes a file created, renamed or deleted in it durable (the file's own
 * fsync covers its contents, not its directory entry).
 */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
