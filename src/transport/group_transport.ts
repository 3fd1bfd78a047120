import type { Message } from '../raft/types.js';

/**
 * What one group replica needs to reach its peers: its Raft messages, batched per Ready and never
 * awaited (Raft tolerates loss, so a send never throws or waits). The node's GrpcPeerTransport
 * gives each group one (`sendFor(groupId)`), and writes what all of them sent a peer in a turn
 * as one batch; tests use LocalNetwork's.
 */
export interface GroupTransport {
  send(messages: readonly Message[]): void;
}
