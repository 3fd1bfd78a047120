import { describe, expect, it } from 'vitest';
import { RoutingTable, nodeRecordEntry } from '../../src/cluster/meta_records.js';

describe('node records', () => {
  it('carry the zone when a node has one, and read a record without one as no zone', () => {
    const zoned = nodeRecordEntry({ id: 'n1', grpc: 'h:7001', resp: 'h:6001', zone: 'eu-1a' });
    const plain = nodeRecordEntry({ id: 'n2', grpc: 'h:7002', resp: 'h:6002', zone: '' });
    // A record written without a zone is the record a node of an older build writes.
    expect(plain).toEqual(['node:n2', '{"grpc":"h:7002","resp":"h:6002"}']);
    const table = RoutingTable.fromRecords([zoned, plain]);
    expect(table.node('n1')).toEqual({ id: 'n1', grpc: 'h:7001', resp: 'h:6001', zone: 'eu-1a' });
    expect(table.node('n2')).toEqual({ id: 'n2', grpc: 'h:7002', resp: 'h:6002', zone: '' });
  });
});
