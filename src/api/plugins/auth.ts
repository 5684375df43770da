/**
 * API keys with scopes. With keys configured, every /v1 route needs `Authorization: Bearer <key>`
 * and a scope that covers the route: predict ⊂ train ⊂ admin. The check runs in onRequest,
 * before any body is read, and compares SHA-256 digests in constant time against every key so
 * timing reveals nothing. Keys never reach a log: requests carry only the key's name.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sendProblem } from '../errors.js';

export const SCOPES = ['predict', 'train', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  name: string;
  scope: Scope;
  digest: Buffer;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least scope a caller needs; routes without one are public (health, docs). */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** Who is calling: the key's name, or the client address when the service is open. */
    principal: string;
  }
}

export class ApiKeyConfigError extends Error {}

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/**
 * Parses `name:key:scope` entries separated by commas or newlines (`key:scope` works too; the
 * name then defaults to key-N). Blank lines and `#` comments are ignored.
 */
export function parseApiKeys(text: string, origin: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const entries = text
    .split(/[\n,]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  entries.forEach((entry, i) => {
    const parts = entry.split(':');
    let name: string;
    let key: string;
    let scope: string;
    if (parts.length === 3) [name, key, scope] = parts as [string, string, string];
    else if (parts.length === 2) [key, scope, name] = [parts[0]!, parts[1]!, `key-${i + 1}`];
    else throw new ApiKeyConfigError(`${origin} entry ${i + 1} must be name:key:scope or key:scope`);
    if (!(SCOPES as readonly string[]).includes(scope))
      throw new ApiKeyConfigError(`${origin} entry ${i + 1} has scope "${scope}"; use ${SCOPES.join(', ')}`);
    if (key.length < 16) throw new ApiKeyConfigError(`${origin} entry ${i + 1} (${name}): keys must be at least 16 characters`);
    if (!/^[\w.-]{1,64}$/.test(name))
      throw new ApiKeyConfigError(`${origin} entry ${i + 1}: name must be 1-64 letters, digits, "_", "." or "-"`);
    keys.push({ name, scope: scope as Scope, digest: digest(key) });
  });
  return keys;
}

export function loadApiKeys(inline: string | null, file: string | null): ApiKey[] {
  const keys: ApiKey[] = [];
  if (inline) keys.push(...parseApiKeys(inline, 'API_KEYS'));
  if (file) keys.push(...parseApiKeys(readFileSync(file, 'utf8'), `API_KEYS_FILE ${file}`));
  return keys;
}

const RANK: Record<Scope, number> = { predict: 0, train: 1, admin: 2 };

/** Finds the key in constant time with respect to its content (every key is compared). */
export function matchKey(keys: readonly ApiKey[], presented: string): ApiKey | null {
  const d = digest(presented);
  let found: ApiKey | null = null;
  for (const key of keys) if (timingSafeEqual(key.digest, d)) found = key;
  return found;
}

export function registerAuth(app: FastifyInstance, keys: readonly ApiKey[]): void {
  app.decorateRequest('principal', '');
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const required = request.routeOptions.config?.scope ?? (request.url.startsWith('/v1/') ? 'admin' : undefined);
    if (keys.length === 0 || required === undefined) {
      request.principal = `ip:${request.ip}`;
      return;
    }
    const header = request.headers.authorization;
    // The scheme is case-insensitive (RFC 7235); exactly one space, then the token.
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header) : null;
    if (!match) {
      reply.header('www-authenticate', 'Bearer realm="kiln"');
      return sendProblem(
        reply,
        401,
        'unauthorized',
        header ? 'malformed Authorization header; send "Authorization: Bearer <key>"' : 'this route needs "Authorization: Bearer <key>"',
      );
    }
    const key = matchKey(keys, match[1]!);
    if (!key) {
      reply.header('www-authenticate', 'Bearer realm="kiln", error="invalid_token"');
      return sendProblem(reply, 401, 'unauthorized', 'the API key is not valid');
    }
    request.principal = `key:${key.name}`;
    if (RANK[key.scope] < RANK[required]) {
      return sendProblem(reply, 403, 'forbidden', `key "${key.name}" has scope ${key.scope}; this route needs ${required}`);
    }
  });
}
