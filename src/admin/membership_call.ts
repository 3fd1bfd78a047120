/**
 * The membership calls of the admin API, as the node runs them (src/node/membership.ts) and as a
 * node that does not lead passes them on to the leader. Defined here, with the service, so that
 * the admin layer needs nothing from the node.
 */
export type MembershipCall = (
  | { readonly kind: 'add-node'; readonly nodeId: string; readonly address: string }
  | { readonly kind: 'remove-node'; readonly nodeId: string }
  | { readonly kind: 'transfer-leader'; readonly to: string }
  | { readonly kind: 'promote'; readonly nodeId: string }
) & {
  /** The group it acts on; absent: every group of the cluster it makes sense for. */
  readonly group?: string;
};

/** The group of a call, or '' for every group (the wire's form). */
export function groupOfCall(call: MembershipCall): string {
  return call.group ?? '';
}

export function withGroup<T extends MembershipCall>(call: T, group: string): T {
  return group === '' ? call : { ...call, group };
}
