/**
 * A split applied while a snapshot of the parent is being written cancels the parent's keyspace
 * image (keyspace_image.ts, Cancelling): the SnapshotManager takes the snapshot again, of the
 * state after the split, and counts no failure. The split is made to land between two chunks of
 * the first write, as an apply lands between two event-loop turns.
 */
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RaftGroup } from '../../src/node/raft_group.js';
import { SnapshotManager } from '../../src/node/snapshot_manager.js';
import { Keyspace } from '../../src/state/keyspace.js';
import { packedStateImage } from '../../src/state/snapshot_image.js';
import { SlotSet } from '../../src/state/slot_set.js';
import type { StateImage } from '../../src/state/state_machine.js';
import type { PackableRecords } from '../../src/storage/snapshot_format.js';
import { SnapshotStore } from '../../src/storage/snapshot_store.js';
import { withTempDir } from '../storage/support.js';

describe('SnapshotManager and a split during a snapshot', () => {
  it('takes the snapshot again after the split cancelled its image, without counting a failure', async () => {
    await withTempDir(async (dir) => {
      const store = await SnapshotStore.open({ dir: join(dir, 'snap'), groupId: 'g1' });
      try {
        const keyspace = new Keyspace();
        for (let i = 0; i < 20_000; i++) keyspace.setByName(`key:${i}`, { type: 'string', value: Buffer.alloc(200, i % 251) });
        const moved = SlotSet.empty();
        moved.addRange([8192, 16383]);
        let images = 0;
        const stateMachine = {
          beginSnapshot: (): StateImage => {
            const keys = keyspace.beginSnapshot();
            const inner = packedStateImage(keys, []);
            const first = ++images === 1;
            let packs = 0;
            const records: PackableRecords = {
              packInto: (packer, budget) => {
                const more = inner.packInto(packer, budget);
                if (first && ++packs === 1) keyspace.extractSlots(moved);
                return more;
              },
            };
            return { records, release: () => keys.release() };
          },
          restore: () => Promise.reject(new Error('not used')),
        };
        const manager = new SnapshotManager({
          groupId: 'g1',
          store,
          stateMachine,
          policy: { entries: 1_000_000, bytes: 1 << 30, catchupEntries: 0, catchupBytes: 0 },
          sendSnapshot: () => Promise.reject(new Error('not used')),
          clock: () => 1_700_000_000_000,
          logger: pino({ level: 'silent' }),
        });
        const group = { applied: 42, termOf: () => 3, confState: () => ({ voters: ['n1'], learners: [] }), compactLog: () => Promise.resolve() };
        manager.attach(group as unknown as RaftGroup);
        const info = await manager.snapshotNow();
        expect(images).toBe(2);
        expect(manager.stats.failed).toBe(0);
        expect(info.index).toBe(42);
        expect(keyspace.size).toBeLessThan(20_000);
        expect(info.recordCount).toBe(keyspace.size);
      } finally {
        await store.close();
      }
    });
  });
});
