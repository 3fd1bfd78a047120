/**
 * The part of fs-native-extensions (a CommonJS package that ships no types) that quorumkv uses.
 * On Linux tryLock is fcntl(F_OFD_SETLK) on the whole file: an open-file-description lock, held
 * until unlock or until the last fd of that open file is closed, as when the process dies.
 */
declare module 'fs-native-extensions' {
  /**
   * Takes a lock on `fd` (exclusive unless `shared`) without waiting. False if another open
   * file holds a conflicting lock; throws on any other error (EBADF, ENOLCK, ...).
   * `length` 0 covers the file to its end, however it grows.
   */
  export function tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
  export function unlock(fd: number, offset?: number, length?: number): void;
}
