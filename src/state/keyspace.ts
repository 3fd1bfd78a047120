/**
 * The keyspace of one group's state machine. (Placeholder type: the state-machine work replaces
 * this file with the implementation.)
 */
export interface Keyspace {
  readonly size: number;
}
