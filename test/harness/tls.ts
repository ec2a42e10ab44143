/**
 * TEST ONLY: the loopback server certificate the fake Graph and token services present, and a check
 * that this process trusts the test CA (test/fixtures/tls/README.md).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const dir = new URL('../fixtures/tls/', import.meta.url);

/** Key and certificate for `https.createServer`. Throws if the test CA is not trusted here. */
export function testTlsOptions(): { key: Buffer; cert: Buffer } {
  const ca = resolve(new URL('ca.pem', dir).pathname);
  const trusted = process.env.NODE_EXTRA_CA_CERTS;
  if (!trusted || resolve(trusted) !== ca) {
    throw new Error(`the fake Graph serves HTTPS with a test certificate: run with NODE_EXTRA_CA_CERTS=${ca} (npm test sets it)`);
  }
  return { key: readFileSync(new URL('server-key.pem', dir)), cert: readFileSync(new URL('server.pem', dir)) };
}
