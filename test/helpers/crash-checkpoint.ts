/**
 * Child process for the "crash between checkpoint write and rename" fault test:
 * `node --import tsx crash-checkpoint.ts <dataDir> <jobId> <target>` saves a checkpoint of a
 * small model with fs.rename patched so the process dies (SIGKILL, no cleanup) right before a
 * temp file is renamed onto `<target>` (e.g. latest.json or latest.json.sha256).
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { PathLike } from 'node:fs';

const [dataDir, jobId, target] = process.argv.slice(2) as [string, string, string];

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises') as { rename: (from: PathLike, to: PathLike) => Promise<void> };
const realRename = fsp.rename;
fsp.rename = async (from, to) => {
  if (String(from).endsWith('.tmp') && String(to).endsWith(`/${target}`)) {
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => undefined); // never returns: the signal ends the process
  }
  return realRename(from, to);
};
// ESM named imports of node:fs/promises (as in src/store/atomic.ts) see the patched function.
syncBuiltinESMExports();

const { Sequential, toCheckpoint } = await import('../../src/engine/index.js');
const { CheckpointStore } = await import('../../src/store/checkpoints.js');
const model = new Sequential(
  { name: 'crash', inputShape: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] },
  { seed: 99 },
);
await new CheckpointStore(dataDir).save(jobId, toCheckpoint(model));
// Reaching here means the patch did not fire.
process.exit(3);
