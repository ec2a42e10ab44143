/**
 * The admin view of the report queue: Bull Board on its own listener in the bot process, off unless
 * ADMIN_BOARD_PORT is set, always behind HTTP Basic authentication (config refuses a port without a
 * password), on loopback unless ADMIN_BOARD_HOST says otherwise, read-only unless
 * ADMIN_BOARD_READONLY=false. Job data holds user names and Teams conversation references: keep it
 * behind a VPN, `kubectl port-forward` or TLS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../core/config.ts';
import { closeHttpServer } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import type { ReportQueue } from '../core/queue.ts';

export interface AdminBoard {
  url: string;
  close(): Promise<void>;
}

const REALM = 'Report bot admin';

/** Start the board if configured; undefined when it is off. */
export async function startAdminBoard(config: Config, queue: ReportQueue, log: Logger): Promise<AdminBoard | undefined> {
  if (config.ADMIN_BOARD_PORT === undefined) return undefined;
  // config.ts already refuses a port without a password; this keeps the invariant local too.
  if (!config.ADMIN_BOARD_PASSWORD) throw new Error('ADMIN_BOARD_PASSWORD: is required when ADMIN_BOARD_PORT is set');

  const board = new ExpressAdapter();
  board.setBasePath('');
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: config.ADMIN_BOARD_READONLY, allowRetries: !config.ADMIN_BOARD_READONLY })],
    // @bull-board/express 9.10.1 carries its own copy of @bull-board/api 9.10.1 beside our 9.10.2: the same
    // interface declared twice, which TypeScript will not unify (private members). At runtime they agree.
    serverAdapter: board as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'Report bot queue' } },
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(basicAuth(config.ADMIN_BOARD_USER, config.ADMIN_BOARD_PASSWORD, log));
  app.use(board.getRouter());

  const server: Server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.ADMIN_BOARD_PORT, config.ADMIN_BOARD_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.ADMIN_BOARD_HOST.includes(':') ? `[${config.ADMIN_BOARD_HOST}]` : config.ADMIN_BOARD_HOST;
  const url = `http://${host}:${port}`;
  log.info({ url, readOnly: config.ADMIN_BOARD_READONLY }, 'admin queue view listening');
  return { url, close: () => closeHttpServer(server, 1_000) };
}

/**
 * HTTP Basic authentication against one user and password. Both are compared as SHA-256 digests
 * with timingSafeEqual, so neither the length nor the content leaks through timing.
 */
export function basicAuth(user: string, password: string, log: Logger) {
  const expectedUser = digest(user);
  const expectedPassword = digest(password);
  return (req: Request, res: Response, next: NextFunction): void => {
    const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
    if (m) {
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) {
        // Both comparisons always run: a right user with a wrong password takes as long as neither.
        const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), expectedUser);
        const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), expectedPassword);
        if (userOk && passwordOk) {
          next();
          return;
        }
      }
      log.warn({ path: req.path, ip: req.socket.remoteAddress }, 'admin view: wrong credentials');
    }
    res.setHeader('www-authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
    res.status(401).type('text/plain').send('Authentication required.');
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
