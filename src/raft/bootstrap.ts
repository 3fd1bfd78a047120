import { encodeConfChange } from './raft.js';
import { ConfChangeType, EntryType } from './types.js';
import type { Entry, HardState } from './types.js';

/**
 * The first log of a new group (etcd's Bootstrap): one committed AddVoter entry per initial
 * voter at term 1, then the host's own initial entries (`initial`, normal entries: what the
 * group's state machine starts from). Every initial member writes the same entries, so their
 * logs agree from the start, and a node that joins later learns the initial membership and state
 * by replaying the log.
 */
export function bootstrapLog(
  voters: readonly string[],
  contextOf: (nodeId: string) => string | undefined = () => undefined,
  initial: readonly Uint8Array[] = [],
): { entries: Entry[]; hardState: HardState } {
  const sorted = [...voters].sort();
  const entries: Entry[] = sorted.map((nodeId, i) => {
    // The context is the host's (quorumkv puts the node's gRPC address there).
    const context = contextOf(nodeId);
    return {
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId, ...(context !== undefined ? { context } : {}) }),
    };
  });
  for (const data of initial) entries.push({ term: 1, index: entries.length + 1, type: EntryType.Normal, data });
  return { entries, hardState: { term: 1, vote: '', commit: entries.length } };
}
