import type { Redis } from "ioredis";
import { ApiError } from "../errors/api-error.ts";
import type { KeySchema } from "../store/keys.ts";
import { hashesEqual, hashToken } from "./token-hash.ts";

/** Scopes of the fleet's bearer tokens. */
export type Scope = "admin" | "read" | "join";

/**
 * What a call needs: `read` (GET routes and read RPCs), `write` (everything that changes the
 * fleet), `agent` (AgentService and RouteService: node agents and routers).
 * admin may do all three; the read token only `read`; the join token only `agent`.
 */
export type Access = "read" | "write" | "agent";

/** Options of {@link createAuthenticator}. */
export interface AuthenticatorOptions {
  redis: Redis;
  keys: KeySchema;
  /** TEI_FLEET_ADMIN_TOKEN, accepted without a Redis round trip. */
  adminToken?: string;
  /** TEI_FLEET_READ_TOKEN. */
  readToken?: string;
  /** TEI_FLEET_JOIN_TOKEN. */
  joinToken?: string;
  /** How long the admin hash read from Redis is cached, ms. Default 5000. */
  cacheMs?: number;
}

/** Checks bearer tokens against the scopes. Shared by REST and Connect. */
export interface Authenticator {
  /** The scope of an `authorization` header value, or undefined when it holds no valid token. */
  identify(authorization: string | undefined): Promise<Scope | undefined>;
  /** Resolves when the header grants `access`; throws 401 (no valid token) or 403 (wrong scope). */
  authorize(authorization: string | undefined, access: Access): Promise<Scope>;
}

const ALLOWED: Record<Scope, readonly Access[]> = { admin: ["read", "write", "agent"], read: ["read"], join: ["agent"] };

/** Creates the authenticator. */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { redis, keys } = options;
  const cacheMs = options.cacheMs ?? 5000;
  const fixed: [Scope, string][] = [];
  if (options.adminToken) fixed.push(["admin", hashToken(options.adminToken)]);
  if (options.readToken) fixed.push(["read", hashToken(options.readToken)]);
  if (options.joinToken) fixed.push(["join", hashToken(options.joinToken)]);
  let cached: { hash: string | null; at: number } | undefined;

  const redisAdminHash = async () => {
    if (!cached || Date.now() - cached.at > cacheMs) cached = { hash: await redis.get(keys.adminTokenHash()), at: Date.now() };
    return cached.hash;
  };

  const identify = async (authorization: string | undefined): Promise<Scope | undefined> => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match) return undefined;
    const hash = hashToken(match[1]!);
    // Check every candidate (no early exit) so timing does not reveal which scope matched.
    let scope: Scope | undefined;
    for (const [s, h] of fixed) if (hashesEqual(hash, h) && scope === undefined) scope = s;
    const stored = await redisAdminHash();
    if (stored && hashesEqual(hash, stored)) scope = "admin";
    return scope;
  };

  return {
    identify,
    async authorize(authorization, access) {
      const scope = await identify(authorization);
      if (scope === undefined) {
        throw new ApiError("UNAUTHENTICATED", authorization ? "invalid bearer token" : "missing bearer token: send 'authorization: Bearer <token>'");
      }
      if (!ALLOWED[scope].includes(access)) {
        const need = access === "agent" ? "the join or admin token" : access === "write" ? "the admin token" : "the read or admin token";
        throw new ApiError("FORBIDDEN", `the ${scope} token may not do this; it needs ${need}`);
      }
      return scope;
    },
  };
}
