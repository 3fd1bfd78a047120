import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/**
 * How every .proto of the package is loaded, the same for all (services and clients must agree):
 *
 * - keepCase false: fields are camelCase (`logTerm`, `rejectHint`, `groupId`), as in the TS types;
 * - longs as Number: terms and indices are safe integers (types.ts), no Long objects to convert;
 * - enums as String: the Raft message type names are the TS `MessageType` values;
 * - bytes as Buffer: decoded `bytes` are views into the received message, not copies;
 * - defaults: every scalar is present after decoding (no `?? 0` on the hot path);
 * - oneofs: proto3 `optional` fields stay absent when unset (their presence is kept).
 */
export const protoLoaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

let protoDirCache: string | null = null;

/**
 * The package's `proto/` folder. Found by walking up from this file to the first folder with a
 * `package.json` and a `proto/` beside it, so that it works from the sources (vitest runs
 * `src/transport/*.ts`) and from the build (`dist/src/transport/*.js`) alike.
 */
export function protoDir(): string {
  if (protoDirCache !== null) return protoDirCache;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) {
      protoDirCache = join(dir, 'proto');
      return protoDirCache;
    }
    if (dirname(dir) === dir) throw new Error(`no proto/ folder beside a package.json above ${start}`);
  }
}

const loaded = new Map<string, protoLoader.PackageDefinition>();

/** Loads (once per process) `proto/<file>` and returns its package definition. */
export function loadProto(file: string): protoLoader.PackageDefinition {
  let definition = loaded.get(file);
  if (!definition) {
    const dir = protoDir();
    definition = protoLoader.loadSync(join(dir, file), { ...protoLoaderOptions, includeDirs: [dir] });
    loaded.set(file, definition);
  }
  return definition;
}

/** A service of a loaded package by its full name, e.g. `quorumkv.raft.v1.RaftPeer`. */
export function serviceDefinition(definition: protoLoader.PackageDefinition, service: string): protoLoader.ServiceDefinition {
  const found = definition[service];
  const isService =
    typeof found === 'object' &&
    found !== null &&
    Object.values(found).every((m) => typeof m === 'object' && m !== null && 'path' in m && 'requestSerialize' in m);
  if (!isService) throw new Error(`${service} is not a service in the loaded protos`);
  return found as protoLoader.ServiceDefinition;
}
