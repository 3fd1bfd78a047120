/**
 * The admin API over real gRPC: Status round trip, errors as one clear line, the methods a node
 * registered without their provider, the CLI entry, and the status of real Raft groups.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminError, adminStatus } from '../../src/admin/admin_client.js';
import { runAdminCommand } from '../../src/admin/admin_command.js';
import { adminServiceDefinition, registerAdminService, type ClusterProvider, type MoveReplicaCall } from '../../src/admin/admin_service.js';
import { groupStatus } from '../../src/node/group_status.js';
import type { NodeStatus, StatusProvider } from '../../src/admin/status.js';
import { GrpcPeerTransport, peerServerOptions } from '../../src/transport/grpc_transport.js';
import { NotReadyError, QuorumError } from '../../src/util/errors.js';
import { openLocalGroups, tickUntil, turn } from '../node/support.js';
import { Resources, freePort } from '../transport/support.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

const sample: NodeStatus = {
  nodeId: 'n1',
  addresses: { grpc: '127.0.0.1:7379', resp: '127.0.0.1:6379' },
  groups: [
    {
      groupId: 'meta',
      role: 'leader',
      leaderId: 'n1',
      term: 7,
      commitIndex: 2 ** 40,
      appliedIndex: 2 ** 40 - 3,
      members: [
        { nodeId: 'n1', role: 'voter', matchIndex: 2 ** 40, lag: 0 },
        { nodeId: 'n2', role: 'voter', matchIndex: 0, lag: 2 ** 40 },
        { nodeId: 'n4', role: 'learner', matchIndex: 12, lag: 3 },
      ],
    },
    {
      groupId: 'g1',
      role: 'follower',
      leaderId: '',
      term: 0,
      commitIndex: 0,
      appliedIndex: 0,
      members: [
        { nodeId: 'n1', role: 'voter' },
        { nodeId: 'n3', role: 'learner' },
      ],
    },
  ],
};

async function adminServer(provider: StatusProvider): Promise<string> {
  const server = new grpc.Server();
  registerAdminService(server, provider);
  return resources.bind(server);
}

async function failure(promise: Promise<unknown>): Promise<AdminError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdminError);
  expect((err as Error).message).not.toMatch(/\n/);
  return err as AdminError;
}

function capture(): { out: { stdout: (t: string) => void; stderr: (t: string) => void }; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: { stdout: (t) => stdout.push(t), stderr: (t) => stderr.push(t) }, stdout, stderr };
}

describe('admin Status', () => {
  it('round-trips the status through the client unchanged', async () => {
    const address = await adminServer({ status: () => sample });
    expect(await adminStatus(address, { timeoutMs: 2_000 })).toStrictEqual(sample);
  });

  it('shares the node server with peer traffic', async () => {
    const server = new grpc.Server(peerServerOptions);
    const transport = new GrpcPeerTransport({ nodeId: 'n1', onMessage: () => {} });
    resources.track(() => transport.close());
    transport.register(server);
    registerAdminService(server, { status: async () => sample });
    const address = await resources.bind(server);
    expect((await adminStatus(address, { timeoutMs: 2_000 })).nodeId).toBe('n1');
  });

  it('turns a provider that throws into a clear one-line error', async () => {
    const address = await adminServer({
      status: () => {
        throw new Error('state machine\nexploded');
      },
    });
    const err = await failure(adminStatus(address, { timeoutMs: 2_000 }));
    expect(err).toMatchObject({ code: 'ADMIN_FAILED', outcome: 'fail', grpcCode: grpc.status.INTERNAL });
    expect(err.message).toBe(`Status at ${address} failed: status failed: state machine exploded`);

    const notReady = await adminServer({ status: () => Promise.reject(new NotReadyError('replaying the log')) });
    expect((await failure(adminStatus(notReady, { timeoutMs: 2_000 }))).message).toMatch(/status failed: \[NOT_READY\] replaying the log$/);
  });

  it('refuses a status the wire cannot carry, naming the field', async () => {
    const address = await adminServer({
      status: () => ({ ...sample, groups: [{ ...sample.groups[1], commitIndex: -1 }] }),
    });
    const err = await failure(adminStatus(address, { timeoutMs: 2_000 }));
    expect(err.message).toMatch(/group g1: commitIndex -1 is not an index/);
  });

  it('reports an address where nothing listens as unreachable', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const err = await failure(adminStatus(address, { timeoutMs: 2_000 }));
    expect(err.code).toBe('ADMIN_UNREACHABLE');
    expect(err.message).toBe(`cannot reach the admin API at ${address}: connect ECONNREFUSED ${address}`);
  });

  it('reports a node that does not answer in time as a timeout', async () => {
    const address = await adminServer({ status: () => new Promise<NodeStatus>(() => {}) });
    const start = Date.now();
    const err = await failure(adminStatus(address, { timeoutMs: 200 }));
    expect(err.code).toBe('ADMIN_TIMEOUT');
    expect(err.message).toBe(`no answer from ${address} within 200 ms (Status)`);
    expect(Date.now() - start).toBeLessThan(2_000);
  });
});

describe('admin methods without their provider', () => {
  it('answer UNIMPLEMENTED with the reason', async () => {
    const address = await adminServer({ status: () => sample });
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    resources.track(async () => client.close());
    const service = adminServiceDefinition();
    const callUnary = (name: string): Promise<grpc.ServiceError | null> => {
      const method = service[name];
      return new Promise((resolve) => client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, {}, (e) => resolve(e)));
    };
    const snapshot = await callUnary('Snapshot');
    expect(snapshot?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(snapshot?.details).toBe('this node offers no snapshots');
    // A server registered without a membership provider says so.
    for (const name of ['AddNode', 'RemoveNode', 'TransferLeader']) {
      const err = await callUnary(name);
      expect(err?.code, name).toBe(grpc.status.UNIMPLEMENTED);
      expect(err?.details).toBe('this node offers no membership changes');
    }
    expect((await callUnary('PromoteNode'))?.details).toBe('this node offers no promotion of learners');
    const backup = service.Backup;
    const call = client.makeServerStreamRequest(backup.path, backup.requestSerialize, backup.responseDeserialize, {});
    const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toBe('this node offers no backups');
  });
});

describe('quorumkv admin (runAdminCommand)', () => {
  it('prints the status as JSON and exits 0', async () => {
    const address = await adminServer({ status: () => sample });
    const io = capture();
    expect(await runAdminCommand(['--addr', address, 'status'], io.out)).toBe(0);
    expect(JSON.parse(io.stdout.join(''))).toStrictEqual(sample);
    expect(io.stderr).toEqual([]);
  });

  it('exits 1 with one line when the node cannot be reached', async () => {
    const io = capture();
    const port = await freePort();
    expect(await runAdminCommand(['--addr', `127.0.0.1:${port}`, '--timeout-ms', '1000', 'status'], io.out)).toBe(1);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(/^quorumkv admin: cannot reach the admin API at 127\.0\.0\.1:\d+: .*\n$/);
  });

  it.each([
    [[], /--addr HOST:PORT is required/],
    [['status'], /--addr HOST:PORT is required/],
    [['--addr', 'nohost', 'status'], /--addr HOST:PORT is required/],
    [['--addr', '127.0.0.1:1'], /a subcommand is required/],
    [['--addr', '127.0.0.1:1', 'stat'], /unknown subcommand stat/],
    [['--addr', '127.0.0.1:1', 'status', 'extra'], /unexpected argument extra/],
    [['--addr', '127.0.0.1:1', '--timeout-ms', '0', 'status'], /--timeout-ms must be a positive integer, not 0/],
    [['--addr', '127.0.0.1:1', '--bogus', 'status'], /bogus/],
  ])('exits 2 on bad usage %j', async (args, why) => {
    const io = capture();
    expect(await runAdminCommand(args, io.out)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(why);
    expect(io.stderr[0].trimEnd()).not.toMatch(/\n/);
  });

  describe('move-replica, resumed when cut short', () => {
    const moveArgs = ['move-replica', '--group', 'g1', '--from', 'n1', '--to', 'n4'];
    const moves = (moveReplica: (call: MoveReplicaCall) => Promise<string>): ClusterProvider => ({ moveReplica, split: () => Promise.reject(new Error('no')), groups: () => [], nodes: () => [] });

    async function clusterServer(cluster: ClusterProvider, port = 0): Promise<{ address: string; server: grpc.Server }> {
      const server = new grpc.Server();
      registerAdminService(server, { status: () => sample }, undefined, undefined, cluster);
      return { address: await resources.bind(server, port), server };
    }

    it('asks again while the node answers that the move was cut short, and prints each interruption', async () => {
      const answers = [new QuorumError('ADMIN_UNREACHABLE', 'cannot reach the admin API at 127.0.0.1:2: Connection dropped', 'fail'), new QuorumError('NO_LEADER', 'no leader within 5000 ms; try again', 'fail')];
      const calls: MoveReplicaCall[] = [];
      const { address } = await clusterServer(
        moves(async (call) => {
          calls.push(call);
          const answer = answers.shift();
          if (answer) throw answer;
          return "moved g1's replica from n1 to n4";
        }),
      );
      const io = capture();
      expect(await runAdminCommand(['--addr', address, ...moveArgs], io.out)).toBe(0);
      expect(io.stdout).toEqual(["moved g1's replica from n1 to n4\n"]);
      expect(calls).toHaveLength(3);
      expect(io.stderr).toHaveLength(2);
      expect(io.stderr[0]).toMatch(/^quorumkv admin: the move was cut short \(.*ADMIN_UNREACHABLE.*\); resuming\n$/);
      expect(io.stderr[1]).toMatch(/NO_LEADER/);
    });

    it('asks again when its own call to the node dropped under way, or the node ended it unanswered', async () => {
      // The CLI reaches the node through a TCP relay whose connections the test cuts: the call in
      // flight sees its connection drop, as when the node stalls past the keepalive or restarts.
      let target = '';
      const sockets = new Set<Socket>();
      const relay = createServer((client) => {
        const [host, port] = target.split(':');
        const upstream = connect(Number(port), host!);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => {});
          s.on('close', () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      resources.track(() => new Promise<void>((r) => relay.close(() => r())));
      const relayAddress = `127.0.0.1:${(relay.address() as AddressInfo).port}`;

      let arrived = (): void => {};
      const hanging = await clusterServer(
        moves(() => {
          arrived();
          return new Promise<string>(() => {}); // never answers by itself
        }),
      );
      const done = await clusterServer(moves(async () => "moved g1's replica from n1 to n4"));
      for (const cut of ['drop', 'cancel'] as const) {
        target = hanging.address;
        const reached = new Promise<void>((r) => (arrived = r));
        const io = capture();
        const running = runAdminCommand(['--addr', cut === 'drop' ? relayAddress : hanging.address, '--timeout-ms', '20000', ...moveArgs], io.out);
        await reached;
        target = done.address;
        if (cut === 'drop') for (const s of sockets) s.destroy();
        else hanging.server.forceShutdown(); // the node stopping: its calls are cancelled
        if (cut === 'cancel') await clusterServer(moves(async () => "moved g1's replica from n1 to n4"), Number(hanging.address.split(':')[1]));
        expect(await running, io.stderr.join('')).toBe(0);
        expect(io.stdout).toEqual(["moved g1's replica from n1 to n4\n"]);
        expect(io.stderr).toEqual([expect.stringMatching(/^quorumkv admin: the move was cut short \(.*\); resuming\n$/)]);
      }
    });

    it('fails at once on a refusal, and on an address never reached', async () => {
      const calls: MoveReplicaCall[] = [];
      const { address } = await clusterServer(
        moves(async (call) => {
          calls.push(call);
          throw new QuorumError('NOT_A_VOTER', 'n1 is not a voter of g1', 'fail');
        }),
      );
      const refused = capture();
      expect(await runAdminCommand(['--addr', address, ...moveArgs], refused.out)).toBe(1);
      expect(calls).toHaveLength(1);
      expect(refused.stderr).toEqual([expect.stringMatching(/^quorumkv admin: .*\[NOT_A_VOTER\] n1 is not a voter of g1\n$/)]);
      const nowhere = capture();
      const started = Date.now();
      expect(await runAdminCommand(['--addr', `127.0.0.1:${await freePort()}`, '--timeout-ms', '60000', ...moveArgs], nowhere.out)).toBe(1);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(nowhere.stderr).toEqual([expect.stringMatching(/^quorumkv admin: cannot reach the admin API at /)]);
    });
  });

  it('asks backup for --out', async () => {
    const io = capture();
    expect(await runAdminCommand(['--addr', '127.0.0.1:1', 'backup'], io.out)).toBe(2);
    expect(io.stderr[0]).toMatch(/^quorumkv admin: backup needs --out FILE \(usage: /);
  });
});

describe('groupStatus', () => {
  it('reports role, leader, indices, and members with match and lag on the leader only', async () => {
    const ids = ['n1', 'n2', 'n3'];
    const groups = await openLocalGroups(ids, 11);
    resources.track(async () => {
      for (const g of groups) await g.stop();
    });
    await tickUntil(() => groups, () => groups.some((g) => g.isLeader()));
    const leader = groups.find((g) => g.isLeader())!;
    await leader.propose(new Uint8Array([1]));
    for (let k = 0; k < 20; k++) await turn();

    const lead = groupStatus(leader);
    expect(lead).toMatchObject({ groupId: 'g0', role: 'leader', leaderId: leader.nodeId, term: leader.term() });
    expect(lead.appliedIndex).toBe(lead.commitIndex);
    expect(lead.members.map((m) => m.nodeId).sort()).toEqual(ids);
    for (const m of lead.members) {
      expect(m.role).toBe('voter');
      expect(m.matchIndex).toBe(lead.commitIndex);
      expect(m.lag).toBe(0);
    }

    const follower = groupStatus(groups.find((g) => !g.isLeader())!);
    expect(follower).toMatchObject({ role: 'follower', leaderId: leader.nodeId, term: lead.term });
    expect(follower.members.every((m) => m.matchIndex === undefined && m.lag === undefined)).toBe(true);

    // And through the API, as `quorumkv admin status` shows it.
    const address = await adminServer({ status: () => ({ nodeId: leader.nodeId, addresses: {}, groups: [groupStatus(leader)] }) });
    expect((await adminStatus(address, { timeoutMs: 2_000 })).groups[0]).toStrictEqual(groupStatus(leader));
  });
});
