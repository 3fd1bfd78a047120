import type { MembersRecord } from './snapshot_image.js';
import type { MemberChange } from './state_machine.js';

/**
 * The members of a group as its log says: every current member's gRPC address (as the change
 * that added it carried it), and every node id the group ever had, so that an id is never reused
 * (a removed node that came back under its old id could vote with a stale log). Part of the
 * replicated state: applied from the log, carried by snapshots.
 */
export class GroupMembers {
  private readonly addresses = new Map<string, string>();
  private readonly ever = new Set<string>();

  apply(change: MemberChange): void {
    this.ever.add(change.nodeId);
    if (change.removed) this.addresses.delete(change.nodeId);
    else if (change.address !== undefined) this.addresses.set(change.nodeId, change.address);
  }

  /** Whether `nodeId` was ever a member (it may not be used again). */
  wasMember(nodeId: string): boolean {
    return this.ever.has(nodeId);
  }

  addressOf(nodeId: string): string | undefined {
    return this.addresses.get(nodeId);
  }

  /** A copy as of now (what a snapshot holds). */
  record(): MembersRecord {
    return { addresses: new Map(this.addresses), everMembers: [...this.ever] };
  }

  /** Discards everything, then takes `record`'s members. */
  replace(record: MembersRecord): void {
    this.addresses.clear();
    this.ever.clear();
    for (const [id, address] of record.addresses) this.addresses.set(id, address);
    for (const id of record.everMembers) this.ever.add(id);
  }
}
