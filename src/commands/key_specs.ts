import type { KeySpec, KeySpecFlag } from './command_spec.js';

/**
 * Key specs as data, for the shapes this table uses: keys from a fixed argument index, one key
 * (`lastKey` 0) or a run to the end of the arguments (`lastKey` -1) every `keyStep` arguments.
 */
export function keyAt(index: number, flags: readonly KeySpecFlag[], notes?: string): KeySpec {
  return keyRange(index, 0, 1, flags, notes);
}

export function keyRange(
  index: number,
  lastKey: number,
  keyStep: number,
  flags: readonly KeySpecFlag[],
  notes?: string,
): KeySpec {
  return {
    ...(notes === undefined ? {} : { notes }),
    flags,
    beginSearch: { type: 'index', index },
    findKeys: { type: 'range', lastKey, keyStep, limit: 0 },
  };
}

/** COMMAND INFO's legacy key positions (first key, last key, step) for the common shapes. */
export const oneKey = { firstKey: 1, lastKey: 1, keyStep: 1 } as const;
export const everyArgumentIsAKey = { firstKey: 1, lastKey: -1, keyStep: 1 } as const;
export const keyValuePairs = { firstKey: 1, lastKey: -1, keyStep: 2 } as const;
export const noKeys = { firstKey: 0, lastKey: 0, keyStep: 0 } as const;
