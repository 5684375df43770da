/** `npm run openapi`: writes the OpenAPI document the server serves to openapi/openapi.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

const app = await buildApp(
  { ...loadConfig({}), dataDir: mkdtempSync(join(tmpdir(), 'kiln-openapi-')) },
  { logger: false, startQueue: false },
);
await app.ready();
const document = app.swagger();
await mkdir('openapi', { recursive: true });
await writeFile('openapi/openapi.json', `${JSON.stringify(document, null, 2)}\n`);
await app.close();
console.log('wrote openapi/openapi.json');
