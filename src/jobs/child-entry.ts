/**
 * Resolves how to start a TypeScript or compiled entry in a child process: compiled JavaScript
 * runs as is; TypeScript sources (tests, `tsx` runs) are loaded through tsx's ESM hook.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function childEntry(relativeToThisFile: string): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const isTs = here.endsWith('.ts');
  const file = fileURLToPath(new URL(`${relativeToThisFile}.${isTs ? 'ts' : 'js'}`, import.meta.url));
  if (!existsSync(file)) throw new Error(`worker entry not found: ${file}`);
  return { file, execArgv: isTs ? ['--import', 'tsx'] : [] };
}
