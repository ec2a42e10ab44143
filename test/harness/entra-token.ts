/**
 * TEST ONLY: Microsoft Entra ID as seen by an API that receives the Actionable Messages service's
 * tokens: one tenant's v2.0 OpenID configuration and its signing keys, served over HTTPS on loopback
 * (the test CA, test/fixtures/tls), and tokens shaped as the Entra docs describe them. The real issuer
 * cannot run here.
 *
 * Contract followed:
 * - https://learn.microsoft.com/entra/identity-platform/access-tokens: the tenant-specific document at
 *   `/<tenant>/v2.0/.well-known/openid-configuration` with `issuer` = https://login.microsoftonline.com/<tenant>/v2.0
 *   and `jwks_uri` = `/<tenant>/discovery/v2.0/keys`; keys as RSA JWKs with `kid`, `x5t`, `use: sig`
 *   and an `issuer` member (templated `{tenantid}`, or one tenant's), no `alg`.
 * - https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference: a v2.0 user
 *   token: `aud` = the API's client id, `iss`, `iat`/`nbf`/`exp`, `azp`, `oid`, `tid`, `scp`,
 *   `preferred_username`, `sub` (pairwise), `ver: "2.0"`, header `typ: JWT`, `alg: RS256`, `kid`.
 * - https://learn.microsoft.com/outlook/actionable-messages/enable-entra-token-for-actionable-messages:
 *   the Actions service (48af08dc-f6d2-435f-b2a7-069abd99c086) obtains it for the provider's app
 *   on behalf of the person who clicked, so `azp` is the Actions service.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { testTlsOptions } from './tls.ts';

/** The Actions service's app id: `azp` of its tokens. */
export const ACTIONS_SERVICE_APP_ID = '48af08dc-f6d2-435f-b2a7-069abd99c086';
/** The personal Microsoft account tenant: keys tied to it sign only for its issuer. */
export const MSA_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

export interface EntraTokenOptions {
  /** Signing key; the tenant's current key by default. */
  key?: CryptoKey | Uint8Array;
  alg?: string;
  kid?: string;
  typ?: string;
}

type Claims = Record<string, unknown>;

export class EntraTokenIssuer {
  readonly tenantId: string;
  /** The app registration the tokens are for (its client id is `aud`). */
  readonly audience: string;
  /** https://127.0.0.1:<port> */
  url = '';
  /** Requests per path, to see what was fetched and how often. */
  readonly requests = new Map<string, number>();
  /** The next N OpenID configuration requests answer 503 (Entra having a bad minute). */
  failConfig = 0;
  private readonly server: Server;
  private signingKey!: CryptoKey;
  private keys: JWK[] = [];
  /** A key the JWKS publishes for another issuer (the MSA tenant's): it must not sign for ours. */
  foreignKey!: CryptoKey;
  /** A key nobody publishes. */
  strayKey!: CryptoKey;

  private constructor(tenantId: string, audience: string) {
    this.tenantId = tenantId;
    this.audience = audience;
    this.server = createServer(testTlsOptions(), (req, res) => {
      const path = new URL(req.url ?? '/', this.url).pathname;
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'GET') return json(405, { error: 'invalid_request' });
      if (path === this.configPath) {
        if (this.failConfig > 0) {
          this.failConfig--;
          return json(503, { error: 'temporarily_unavailable' });
        }
        return json(200, {
          token_endpoint: `https://login.microsoftonline.com/${tenantId}/oauth2/v2.0/token`,
          jwks_uri: `${this.url}${this.keysPath}`,
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          issuer: this.issuer,
          authorization_endpoint: `https://login.microsoftonline.com/${tenantId}/oauth2/v2.0/authorize`,
          tenant_region_scope: 'EU',
        });
      }
      if (path === this.keysPath) return json(200, { keys: this.keys });
      return json(404, { error: 'not_found' });
    });
  }

  /**
   * `keyIssuers: false` publishes the keys without their `issuer` member (the v1.0 key documents do
   * not have it), so that only the token's own claims tie it to the tenant.
   */
  static async start(tenantId: string, audience: string, opts: { keyIssuers?: boolean } = {}): Promise<EntraTokenIssuer> {
    const issuer = new EntraTokenIssuer(tenantId, audience);
    // Entra's keys carry no `alg`; kid and x5t are the certificate thumbprint (here: of the modulus).
    const jwk = async (key: CryptoKey, issuerMember: string): Promise<JWK> => {
      const pub = await exportJWK(key);
      const kid = createHash('sha1').update(pub.n ?? '').digest('base64url');
      const published: JWK = { kty: 'RSA', use: 'sig', kid, x5t: kid, n: pub.n, e: pub.e };
      return opts.keyIssuers === false ? published : { ...published, issuer: issuerMember } as JWK;
    };
    const current = await generateKeyPair('RS256', { extractable: true });
    const foreign = await generateKeyPair('RS256', { extractable: true });
    issuer.signingKey = current.privateKey;
    issuer.foreignKey = foreign.privateKey;
    issuer.strayKey = (await generateKeyPair('RS256')).privateKey;
    issuer.keys = [
      await jwk(current.publicKey, 'https://login.microsoftonline.com/{tenantid}/v2.0'),
      await jwk(foreign.publicKey, `https://login.microsoftonline.com/${MSA_TENANT}/v2.0`),
    ];
    await new Promise<void>((resolve) => issuer.server.listen(0, '127.0.0.1', resolve));
    issuer.url = `https://127.0.0.1:${(issuer.server.address() as AddressInfo).port}`;
    return issuer;
  }

  get issuer(): string {
    return `https://login.microsoftonline.com/${this.tenantId}/v2.0`;
  }

  get configPath(): string {
    return `/${this.tenantId}/v2.0/.well-known/openid-configuration`;
  }

  get keysPath(): string {
    return `/${this.tenantId}/discovery/v2.0/keys`;
  }

  /** ACTIONS_OPENID_CONFIG_URL for this tenant. */
  get openIdConfigUrl(): string {
    return `${this.url}${this.configPath}`;
  }

  /** Key id of the current signing key, and of the key published for the MSA tenant only. */
  get kids(): { current: string; foreign: string } {
    return { current: String(this.keys[0].kid), foreign: String(this.keys[1].kid) };
  }

  /** The config a bot needs to accept this tenant's tokens. */
  env(): Record<string, string> {
    return { ACTIONS_TOKEN: 'entra', ACTIONS_TENANT_ID: this.tenantId, ACTIONS_AUDIENCE: this.audience, ACTIONS_OPENID_CONFIG_URL: this.openIdConfigUrl };
  }

  /**
   * A token the Actions service got for our app on behalf of `person`; `claims` override or (with
   * undefined) remove claims.
   */
  async token(person: { upn: string; oid: string; name?: string }, claims: Claims = {}, opts: EntraTokenOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: Claims = {
      aud: this.audience,
      iss: this.issuer,
      iat: now - 5,
      nbf: now - 5,
      exp: now + 3600,
      aio: randomBytes(40).toString('base64'),
      azp: ACTIONS_SERVICE_APP_ID,
      azpacr: '2',
      name: person.name ?? person.upn,
      oid: person.oid,
      preferred_username: person.upn,
      rh: `0.${randomBytes(30).toString('base64url')}.`,
      scp: 'Global.Test',
      sub: createHash('sha256').update(`${person.oid}:${this.audience}`).digest('base64url').slice(0, 43),
      tid: this.tenantId,
      uti: randomBytes(16).toString('base64url'),
      ver: '2.0',
      ...claims,
    };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: opts.alg ?? 'RS256', typ: opts.typ ?? 'JWT', kid: opts.kid ?? this.kids.current })
      .sign(opts.key ?? this.signingKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
