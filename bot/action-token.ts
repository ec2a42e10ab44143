/**
 * The token Outlook sends with every actionable-message action (Action.Http), in
 * `Authorization: Bearer …` (or in `Action-Authorization` when the card blanks the former). Two kinds:
 *
 * - `entra` (what Outlook sends since the legacy tokens were phased out, completed June 8, 2026): a
 *   Microsoft Entra ID v2.0 access token the Actions service obtained for our app registration on
 *   behalf of the person who clicked. Checked as Microsoft's "Access tokens in the Microsoft identity
 *   platform" says an API must: RS256 signature against the keys of the tenant's OpenID configuration
 *   (and the key's own `issuer`), `iss` = that configuration's issuer, `aud` = our app's client id,
 *   lifetime; then `azp` = the Actions service, `tid` = our tenant, a user token (`scp`), and who
 *   clicked from `oid` and `preferred_username`.
 * - `legacy`: Office 365's own token (issuer https://substrate.office.com/sts/, audience the target
 *   URL's base, `sender` = our mailbox, `sub` = who clicked). Kept for installations still on it.
 *
 * verify() says who clicked, or throws. Nothing else about a request is looked at before this passes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import { z } from 'zod/v4';
import { isKeySource, type ActionsConfig } from '../core/config.ts';

/** `iss` of every legacy actionable-message token. */
export const ACTIONS_ISSUER = 'https://substrate.office.com/sts/';
/**
 * The Actions service's app id: `appid` of every legacy token, and the client app the provider's
 * Entra app pre-authorizes, hence `azp` of every Entra token.
 */
export const ACTIONS_APP_ID = '48af08dc-f6d2-435f-b2a7-069abd99c086';

/** Clocks drift; a minute is enough for that and short enough that an expired token stays expired. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** Outlook waits only a few seconds for an answer, so a slow key fetch must fail rather than hang. */
const JWKS_TIMEOUT_MS = 5_000;
/** Microsoft: "A reasonable frequency to check for updates to the public keys [...] is every 24 hours." */
const OPENID_CONFIG_MAX_AGE_MS = 24 * 3600 * 1000;

/** The person who clicked, as the token (never the request body) names them. */
export interface ActionPerformer {
  /** The address the person clicked as: `preferred_username` (Entra), `sub` (legacy). */
  email: string;
  /** `oid`: their Entra object id; always there in an Entra token, optional in a legacy one. */
  objectId?: string;
  /** `tid`: their tenant; always there in an Entra token, optional in a legacy one. */
  tenantId?: string;
}

/** A request that failed verification. `reason` is for the log only; the caller answers a bare 401. */
export class ActionTokenError extends Error {
  readonly reason: string;
  /** True when the fault is ours or the network's (signing keys unreachable), not the request's. */
  readonly keysUnavailable: boolean;
  constructor(reason: string, options?: ErrorOptions & { keysUnavailable?: boolean }) {
    super(`action token rejected: ${reason}`, options);
    this.name = 'ActionTokenError';
    this.reason = reason;
    this.keysUnavailable = options?.keysUnavailable ?? false;
  }
}

/** Legacy claims read once the signature and the standard claims have been verified. */
const legacyClaimsSchema = z.object({
  appid: z.string(),
  sender: z.string(),
  sub: z.email(),
  oid: z.guid().optional(),
  tid: z.string().min(1).optional(),
});

export interface LegacyTokenOptions {
  /** The JWKS with Office 365's signing keys. */
  jwksUrl: string;
  /** The bot's public base URL; its scheme + host is the audience Outlook puts in the token. */
  publicBaseUrl: string;
  /** The mailbox our cards are sent from: the only `sender` accepted. */
  sender: string;
  /** A key resolver other than the remote JWKS (unit tests). */
  keys?: JWTVerifyGetKey;
}

export interface ActionTokenVerifier {
  /** Verify the token in `headers`; throws ActionTokenError, else returns who clicked. */
  verify(headers: IncomingHttpHeaders): Promise<ActionPerformer>;
}

/** The verifier the configuration asks for. */
export function createActionTokenVerifier(actions: ActionsConfig): ActionTokenVerifier {
  return actions.token === 'entra'
    ? createEntraTokenVerifier(actions)
    : createLegacyTokenVerifier(actions);
}

/** Legacy tokens: the key set fetched on first use and cached (refetched for an unknown key id). */
export function createLegacyTokenVerifier(opts: LegacyTokenOptions): ActionTokenVerifier {
  const keys = opts.keys ?? createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS });
  const origin = new URL(opts.publicBaseUrl).origin;
  const sender = opts.sender.toLowerCase();
  return {
    async verify(headers) {
      const token = bearerToken(headers);
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: ['RS256'],
          issuer: ACTIONS_ISSUER,
          // "The base URL of the target service": with or without the trailing slash it is the same URL.
          audience: [origin, `${origin}/`],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp', 'sub', 'sender', 'appid'],
        }));
      } catch (err) {
        throw rejection(err);
      }
      const claims = legacyClaimsSchema.safeParse(payload);
      if (!claims.success) {
        throw new ActionTokenError(`malformed claim "${claims.error.issues[0]?.path.join('.')}"`);
      }
      const c = claims.data;
      if (c.appid.toLowerCase() !== ACTIONS_APP_ID) throw new ActionTokenError('not issued for the Actions service (appid)');
      if (c.sender.toLowerCase() !== sender) throw new ActionTokenError('card not sent by our mailbox (sender)');
      return { email: c.sub, objectId: c.oid, tenantId: c.tid };
    },
  };
}

/**
 * Entra claims read once the signature, `iss`, `aud` and the lifetime have been verified. v2.0 only:
 * its `aud` is always the API's client id and its client is `azp` (v1.0 has `appid` and an audience
 * that depends on how the client asked), so one shape is checked rather than either.
 */
const entraClaimsSchema = z.object({
  ver: z.literal('2.0'),
  azp: z.guid(),
  tid: z.guid(),
  oid: z.guid(),
  // "Only included for user tokens": an app-only token (no person clicked) has none.
  scp: z.string().trim().min(1),
  preferred_username: z.email(),
});

/** What the tenant's OpenID configuration must say; the rest is not used. */
const openIdConfigSchema = z.object({
  issuer: z.string().min(1),
  jwks_uri: z.string().refine(isKeySource, 'jwks_uri must be an https:// URL'),
});

export interface EntraTokenOptions {
  /** The tenant (GUID) whose users click: the only `tid`, and the tenant of the issuer. */
  tenantId: string;
  /** Our app registration's application (client) id: the only `aud`. */
  audience: string;
  /** The tenant's v2.0 OpenID configuration: the issuer and where the signing keys are. */
  openIdConfigUrl: string;
}

interface EntraKeys {
  issuer: string;
  keys: RemoteJWKSet;
  fetchedAt: number;
}

/**
 * Entra ID tokens. The OpenID configuration is fetched on first use and again after a day (a failed
 * fetch is not cached, and a failed refresh keeps the previous one); the key set it names is fetched on first use, cached, and refetched for an
 * unknown key id, as jose's remote key set does.
 */
export function createEntraTokenVerifier(opts: EntraTokenOptions): ActionTokenVerifier {
  const tenantId = opts.tenantId.toLowerCase();
  const audience = opts.audience.toLowerCase();
  let good: EntraKeys | undefined;
  let pending: Promise<EntraKeys> | undefined;
  let keySet: { uri: string; keys: RemoteJWKSet } | undefined;

  const load = async (): Promise<EntraKeys> => {
    let raw: unknown;
    try {
      const res = await fetch(opts.openIdConfigUrl, { redirect: 'error', signal: AbortSignal.timeout(JWKS_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      raw = await res.json();
    } catch (err) {
      throw new ActionTokenError(`signing keys unavailable (OpenID configuration: ${err instanceof Error ? err.message : String(err)})`, { cause: err, keysUnavailable: true });
    }
    const parsed = openIdConfigSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ActionTokenError(`signing keys unavailable (OpenID configuration: ${parsed.error.issues[0]?.message})`, { keysUnavailable: true });
    }
    // A tenant-independent document says {tenantid}; ours is the only tenant accepted either way.
    const issuer = parsed.data.issuer.replace(/\{tenantid\}/i, tenantId);
    if (!isTenantIssuer(issuer, tenantId)) {
      throw new ActionTokenError(`signing keys unavailable (the OpenID configuration's issuer ${issuer} is not tenant ${tenantId}'s v2.0 issuer)`, { keysUnavailable: true });
    }
    if (keySet?.uri !== parsed.data.jwks_uri) {
      keySet = { uri: parsed.data.jwks_uri, keys: createRemoteJWKSet(new URL(parsed.data.jwks_uri), { timeoutDuration: JWKS_TIMEOUT_MS }) };
    }
    return { issuer, keys: keySet.keys, fetchedAt: Date.now() };
  };
  const entraKeys = async (): Promise<EntraKeys> => {
    if (good && Date.now() - good.fetchedAt < OPENID_CONFIG_MAX_AGE_MS) return good;
    const loading = pending ?? (pending = load().finally(() => { pending = undefined; }));
    try {
      good = await loading;
      return good;
    } catch (err) {
      // A day-old configuration that cannot be refreshed just now still names the right keys.
      if (good) return good;
      throw err;
    }
  };

  return {
    async verify(headers) {
      const token = bearerToken(headers);
      const { issuer, keys } = await entraKeys();
      let payload: JWTPayload;
      let kid: string | undefined;
      try {
        const verified = await jwtVerify(token, keys, {
          algorithms: ['RS256'],
          typ: 'JWT',
          issuer,
          audience,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp', 'nbf', 'iat'],
        });
        payload = verified.payload;
        kid = verified.protectedHeader.kid;
      } catch (err) {
        // A v1.0 token from our own tenant means the app registration issues the other format.
        if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'iss' && err.payload.ver === '1.0') {
          throw new ActionTokenError('a v1.0 token: set accessTokenAcceptedVersion to 2 in the app registration\'s manifest', { cause: err });
        }
        throw rejection(err);
      }
      // "Validate the signing key issuer": a key the document ties to an issuer signs only for it.
      const jwk = keys.jwks()?.keys.find((k) => k.kid === kid);
      const keyIssuer = (jwk as { issuer?: unknown } | undefined)?.issuer;
      if (typeof keyIssuer === 'string' && keyIssuer.replace(/\{tenantid\}/i, String(payload.tid ?? '')) !== payload.iss) {
        throw new ActionTokenError('signing key belongs to another issuer');
      }
      const claims = entraClaimsSchema.safeParse(payload);
      if (!claims.success) {
        throw new ActionTokenError(`malformed or missing claim "${claims.error.issues[0]?.path.join('.')}"`);
      }
      const c = claims.data;
      if (c.azp.toLowerCase() !== ACTIONS_APP_ID) throw new ActionTokenError('not obtained by the Actions service (azp)');
      if (c.tid.toLowerCase() !== tenantId) throw new ActionTokenError('another tenant (tid)');
      return { email: c.preferred_username, objectId: c.oid, tenantId: c.tid };
    },
  };
}

/** `https://<host>/<tenant>/v2.0`: a v2.0 issuer of exactly that tenant (any cloud's sign-in host). */
function isTenantIssuer(issuer: string, tenantId: string): boolean {
  try {
    const u = new URL(issuer);
    return u.protocol === 'https:' && u.pathname.toLowerCase() === `/${tenantId}/v2.0` && !u.search && !u.hash;
  } catch {
    return false;
  }
}

/**
 * The compact JWT of a request. `Action-Authorization` is read only when `Authorization` is absent or
 * empty: that is how Outlook sends it when the card asked for the Authorization header to be left free.
 */
function bearerToken(headers: IncomingHttpHeaders): string {
  const raw = headers.authorization || headerText(headers['action-authorization']);
  if (!raw) throw new ActionTokenError('no token');
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(raw);
  if (!m) throw new ActionTokenError('not a bearer token');
  return m[1];
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Why jose refused, for the log: the check that failed and nothing of the token itself. */
function rejection(err: unknown): ActionTokenError {
  const reason = (text: string) => new ActionTokenError(text, { cause: err });
  const unavailable = (text: string) => new ActionTokenError(`signing keys unavailable (${text})`, { cause: err, keysUnavailable: true });
  if (err instanceof errors.JWTExpired) return reason('expired');
  if (err instanceof errors.JWTClaimValidationFailed) return reason(`claim "${err.claim}" ${err.reason.replaceAll('_', ' ')}`);
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return reason('algorithm not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed) return reason('bad signature');
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return reason('unknown signing key');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return reason('malformed token');
  if (err instanceof errors.JWKSTimeout) return unavailable('timeout');
  if (err instanceof errors.JOSEError) return unavailable(err.message);
  return unavailable(err instanceof Error ? err.message : String(err));
}
