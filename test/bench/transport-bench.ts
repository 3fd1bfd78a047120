/**
 * Transport benchmark: one GrpcPeerTransport streams to another over 127.0.0.1, batches of 64
 * MsgApps of 16 entries of 100 B (one Ready's worth for a busy follower), as fast as the stream's
 * flow control allows (the sender writes only while the peer's stream takes more: no drops).
 * Prints messages/s, entries/s and wire MB/s, first with the receiver in a worker thread (two
 * cores, as two nodes would have), then with both ends on one thread.
 *
 *   npm run build && node dist/test/bench/transport-bench.js
 *   QKV_BENCH_SECONDS=10 node dist/test/bench/transport-bench.js
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { EntryType, MessageType, makeMessage } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { GrpcPeerTransport, peerServerOptions } from '../../src/transport/grpc_transport.js';

const seconds = Number(process.env.QKV_BENCH_SECONDS ?? 5);
const warmupSeconds = 1;
const messagesPerBatch = 64;
const entriesPerMessage = 16;
const entryBytes = 100;

interface ReceiverStats {
  messages: number;
  entries: number;
  bytes: number;
}

/** A node that counts what it receives; answers its counts to `read`. */
async function startReceiver(): Promise<{ address: string; read: () => ReceiverStats; stop: () => Promise<void> }> {
  const counts: ReceiverStats = { messages: 0, entries: 0, bytes: 0 };
  const transport = new GrpcPeerTransport({
    nodeId: 'b',
    onMessage: (_group, m) => {
      counts.messages++;
      counts.entries += m.entries.length;
    },
  });
  const server = new grpc.Server(peerServerOptions);
  transport.register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    read: () => ({ ...counts, bytes: transport.stats().bytesReceived }),
    stop: async () => {
      await transport.close();
      server.forceShutdown();
    },
  };
}

function readyBatch(): Message[] {
  const data = new Uint8Array(entryBytes).fill(0x61);
  return Array.from({ length: messagesPerBatch }, (_, i) =>
    makeMessage({
      type: MessageType.MsgApp,
      from: 'a',
      to: 'b',
      term: 5,
      logTerm: 5,
      index: 1_000_000 + i * entriesPerMessage,
      commit: 1_000_000,
      entries: Array.from({ length: entriesPerMessage }, (_, k) => ({
        term: 5,
        index: 1_000_001 + i * entriesPerMessage + k,
        type: EntryType.Normal,
        data,
      })),
    }),
  );
}

async function run(label: string, receiver: { address: string; read: () => Promise<ReceiverStats> }): Promise<void> {
  const sender = new GrpcPeerTransport({ nodeId: 'a', peers: [['b', receiver.address]], onMessage: () => {} });
  const send = sender.sendFor('g0');
  const batch = readyBatch();
  let running = true;
  // Write while the stream takes more: a queued batch means write() said "wait for drain".
  const pump = (): void => {
    if (!running) return;
    for (let i = 0; i < 16 && (sender.stats().peers.b?.queuedBatches ?? 0) === 0; i++) send.send(batch);
    setImmediate(pump);
  };
  pump();
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  const before = await receiver.read();
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = await receiver.read();
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  running = false;
  const s = sender.stats();
  await sender.close();
  const messages = (after.messages - before.messages) / elapsed;
  const entries = (after.entries - before.entries) / elapsed;
  const megabytes = (after.bytes - before.bytes) / elapsed / 1e6;
  console.log(
    `${label.padEnd(28)} ${Math.round(messages).toLocaleString('en-US').padStart(10)} MsgApp/s ` +
      `${Math.round(entries).toLocaleString('en-US').padStart(12)} entries/s ` +
      `${megabytes.toFixed(1).padStart(7)} MB/s on the wire   (dropped ${s.messagesDropped})`,
  );
}

async function main(): Promise<void> {
  console.log(
    `transport bench: batches of ${messagesPerBatch} MsgApp x ${entriesPerMessage} entries x ${entryBytes} B, ` +
      `${seconds} s after ${warmupSeconds} s warm-up, node ${process.version}`,
  );

  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { receiver: true } });
  const address = await new Promise<string>((resolve) => worker.once('message', (m: { address: string }) => resolve(m.address)));
  const readWorker = (): Promise<ReceiverStats> =>
    new Promise((resolve) => {
      worker.once('message', (m: ReceiverStats) => resolve(m));
      worker.postMessage('read');
    });
  await run('receiver in a worker thread', { address, read: readWorker });
  await worker.terminate();

  const local = await startReceiver();
  await run('both ends on one thread', { address: local.address, read: async () => local.read() });
  await local.stop();
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else if ((workerData as { receiver?: boolean }).receiver) {
  void startReceiver().then((receiver) => {
    parentPort!.postMessage({ address: receiver.address });
    parentPort!.on('message', () => parentPort!.postMessage(receiver.read()));
  });
}
