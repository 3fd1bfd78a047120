/**
 * The .proto files are found from the sources (this test, under vitest) and from the build
 * (`dist/src/...`, run by plain node; skipped until `npm run build` has made it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadProto, protoDir, serviceDefinition } from '../../src/transport/proto_files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = join(root, 'dist', 'src', 'transport', 'proto_files.js');

describe('proto files', () => {
  it('are found from the sources', () => {
    expect(protoDir()).toBe(join(root, 'proto'));
    expect(Object.keys(serviceDefinition(loadProto('raft.proto'), 'quorumkv.raft.v1.RaftPeer'))).toEqual(['Stream', 'InstallSnapshot']);
    expect(Object.keys(serviceDefinition(loadProto('admin.proto'), 'quorumkv.admin.v1.Admin'))).toContain('Status');
    expect(() => serviceDefinition(loadProto('raft.proto'), 'quorumkv.raft.v1.RaftMessage')).toThrow(/not a service/);
  });

  it.runIf(existsSync(built))('are found from the build, by plain node', async () => {
    const script = `const m = await import(${JSON.stringify(built)}); m.loadProto('raft.proto'); m.loadProto('admin.proto'); console.log(m.protoDir());`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    expect(stdout.trim()).toBe(join(root, 'proto'));
  });
});
