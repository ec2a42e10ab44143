/**
 * The token Outlook sends with every actionable-message action (Action.Http): a JWT issued by Office
 * 365 in `Authorization: Bearer …` (or in `Action-Authorization` when the card blanks the former).
 * verify() checks it the way Microsoft's own validators do (signature against the published keys,
 * issuer, audience, lifetime, the Actions service's app id) plus the mailbox that sent the card, and
 * says who clicked. Nothing else about a request is looked at before this passes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod/v4';

/** `iss` of every actionable-message token. */
export const ACTIONS_ISSUER = 'https://substrate.office.com/sts/';
/** `appid` of every actionable-message token: Office 365's Actions service ("Connectors"). */
export const ACTIONS_APP_ID = '48af08dc-f6d2-435f-b2a7-069abd99c086';

/** Clocks drift; a minute is enough for that and short enough that an expired token stays expired. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** Outlook waits only a few seconds for an answer, so a slow key fetch must fail rather than hang. */
const JWKS_TIMEOUT_MS = 5_000;

/** The person who clicked, as the token (never the request body) names them. */
export interface ActionPerformer {
  /** `sub`: the email address the person clicked as. */
  email: string;
  /** `oid`: their Entra object id, when the token carries it. */
  objectId?: string;
  /** `tid`: their tenant, when the token carries it. */
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

/** Claims read once the signature and the standard claims have been verified. */
const claimsSchema = z.object({
  appid: z.string(),
  sender: z.string(),
  sub: z.email(),
  oid: z.guid().optional(),
  tid: z.string().min(1).optional(),
});

export interface ActionTokenOptions {
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

/** A verifier with its key set fetched on first use and cached (refetched for an unknown key id). */
export function createActionTokenVerifier(opts: ActionTokenOptions): ActionTokenVerifier {
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
      const claims = claimsSchema.safeParse(payload);
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
