import { createHash } from 'node:crypto';

/**
 * The node id Redis Cluster clients see (CLUSTER MYID, NODES, SLOTS, SHARDS): Redis names a node
 * by 40 hex characters, and clients keep them (redis-benchmark matches CLUSTER SLOTS to CLUSTER
 * NODES by id), so quorumkv derives one from the node's own id, the SHA-1 of it in hex. It is the
 * same on every node and across restarts, and it never collides in practice for distinct ids.
 */
export function clusterNodeId(nodeId: string): string {
  return createHash('sha1').update(nodeId, 'utf8').digest('hex');
}

/** `host:port` → its parts (the port after the last ':', so an IPv6 host keeps its colons); null when there is no port. */
export function splitAddress(address: string): { readonly host: string; readonly port: number } | null {
  const colon = address.lastIndexOf(':');
  if (colon < 0) return null;
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
  return { host: address.slice(0, colon), port };
}
