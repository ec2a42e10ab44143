/**
 * TEST ONLY: a fake Microsoft Entra ID token endpoint for app-only (client credentials) sign-in, over
 * HTTPS on loopback, enough for MSAL (inside @azure/identity's ClientSecretCredential) to really fetch a
 * token from it: the tenant's OpenID configuration and the v2.0 token endpoint.
 *
 * Follows the documented contract: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
 * — form-encoded POST, grant_type=client_credentials, the app's id and secret, a `<resource>/.default`
 * scope; errors as `{ error, error_description, error_codes }` with 400/401. Tokens are opaque random
 * strings the fake Graph checks with {@link FakeEntra.check}.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { testTlsOptions } from './tls.ts';

export interface EntraApp {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

/** One token request as received. */
export interface TokenRequest {
  tenantId: string;
  clientId: string;
  scope: string;
  grantType: string;
  status: number;
}

interface Issued {
  resource: string;
  clientId: string;
  expires: number;
}

export class FakeEntra {
  readonly app: EntraApp;
  /** The authority host, e.g. https://127.0.0.1:4431 (GRAPH_AUTHORITY_HOST). */
  url = '';
  readonly tokenRequests: TokenRequest[] = [];
  /** Resources (origins) tokens may be issued for, e.g. the fake Graph's https://127.0.0.1:port. */
  readonly resources = new Set<string>();
  private readonly tokens = new Map<string, Issued>();
  private readonly server: Server;

  private constructor(app: EntraApp) {
    this.app = app;
    this.server = createServer(testTlsOptions(), (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.url);
        const json = (status: number, body: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(body));
        };
        const oauthError = (status: number, error: string, code: number, description: string) =>
          json(status, { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code], timestamp: new Date().toISOString() });
        const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(url.pathname);
        if (!m) return oauthError(404, 'invalid_request', 90002, `no such endpoint ${url.pathname}`);
        const [, tenant, endpoint] = m;
        if (tenant !== this.app.tenantId) return oauthError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found.`);
        const base = `${this.url}/${tenant}`;
        if (endpoint.startsWith('v2.0')) {
          if (req.method !== 'GET') return oauthError(405, 'invalid_request', 900561, 'use GET');
          return json(200, {
            token_endpoint: `${base}/oauth2/v2.0/token`,
            token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
            jwks_uri: `${base}/discovery/v2.0/keys`,
            response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
            subject_types_supported: ['pairwise'],
            id_token_signing_alg_values_supported: ['RS256'],
            issuer: `${base}/v2.0`,
            authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
            end_session_endpoint: `${base}/oauth2/v2.0/logout`,
            tenant_region_scope: 'EU',
          });
        }
        if (req.method !== 'POST') return oauthError(405, 'invalid_request', 900561, 'use POST');
        if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
          return oauthError(400, 'invalid_request', 900144, 'The request body must be application/x-www-form-urlencoded.');
        }
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const request: TokenRequest = {
          tenantId: tenant, clientId: form.get('client_id') ?? '', scope: form.get('scope') ?? '', grantType: form.get('grant_type') ?? '', status: 0,
        };
        this.tokenRequests.push(request);
        const reply = (status: number, body: unknown) => {
          request.status = status;
          json(status, body);
        };
        if (request.grantType !== 'client_credentials') {
          return reply(400, { error: 'unsupported_grant_type', error_description: 'AADSTS70003: only client_credentials here', error_codes: [70003] });
        }
        if (request.clientId !== this.app.clientId) {
          return reply(400, { error: 'unauthorized_client', error_description: `AADSTS700016: Application with identifier '${request.clientId}' was not found in the directory.`, error_codes: [700016] });
        }
        if (form.get('client_secret') !== this.app.clientSecret) {
          return reply(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] });
        }
        const scope = /^(https:\/\/[^/]+)\/\.default$/.exec(request.scope);
        if (!scope || !this.resources.has(scope[1])) {
          return reply(400, { error: 'invalid_scope', error_description: `AADSTS70011: The provided value '${request.scope}' for the input parameter 'scope' is not valid.`, error_codes: [70011] });
        }
        const token = randomBytes(32).toString('base64url');
        this.tokens.set(token, { resource: scope[1], clientId: request.clientId, expires: Date.now() + 3599_000 });
        return reply(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
      });
    });
  }

  static async start(app: EntraApp): Promise<FakeEntra> {
    const entra = new FakeEntra(app);
    await new Promise<void>((resolve) => entra.server.listen(0, '127.0.0.1', resolve));
    entra.url = `https://127.0.0.1:${(entra.server.address() as AddressInfo).port}`;
    return entra;
  }

  /** Whether an `Authorization` header value carries a live token issued for `resource`. */
  check(authorization: string | undefined, resource: string): 'valid' | 'missing' | 'invalid' | 'expired' {
    if (!authorization) return 'missing';
    const m = /^Bearer (\S+)$/.exec(authorization);
    const issued = m ? this.tokens.get(m[1]) : undefined;
    if (!issued || issued.resource !== resource) return 'invalid';
    return issued.expires > Date.now() ? 'valid' : 'expired';
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
