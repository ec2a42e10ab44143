/** The embedded services: a private Redis and Azurite really start, serve, and stop. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobSASPermissions, BlobServiceClient } from '@azure/storage-blob';
import { Redis } from 'ioredis';
import { freePort, startAzurite, startRedis } from './services.ts';

/** The machine's shared Redis (CI starts one on 6379). */
const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function timed<T>(start: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await start();
  return [value, Math.round(performance.now() - t0)];
}

test('freePort returns a port nothing listens on', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
  assert.equal(await portAnswers(port), false);
});

test('startRedis without a url runs a private redis-server until stop()', async (t) => {
  const [redis, ms] = await timed(() => startRedis());
  t.diagnostic(`private Redis started in ${ms} ms`);
  const match = /^redis:\/\/127\.0\.0\.1:(\d+)$/.exec(redis.url);
  assert.ok(match, redis.url);
  const port = Number(match[1]);
  assert.notEqual(port, 6379);

  const client = new Redis(redis.url);
  try {
    await client.set('services-test:key', 'value');
    assert.equal(await client.get('services-test:key'), 'value');
  } finally {
    client.disconnect();
  }

  const [, stopMs] = await timed(() => redis.stop());
  t.diagnostic(`private Redis stopped in ${stopMs} ms`);
  assert.equal(await portAnswers(port), false);
  await redis.stop(); // a second stop must neither throw nor start anything
  assert.equal(await portAnswers(port), false);
});

test('startRedis with a url checks it and hands it back', async (t) => {
  const [redis, ms] = await timed(() => startRedis({ url: SHARED_REDIS_URL }));
  t.diagnostic(`configured Redis checked in ${ms} ms`);
  assert.equal(redis.url, SHARED_REDIS_URL);
  await redis.stop();
  // stop() was a no-op: the shared Redis still answers.
  const client = new Redis(SHARED_REDIS_URL);
  try {
    assert.equal(await client.ping(), 'PONG');
  } finally {
    client.disconnect();
  }
});

test('startRedis with a dead url rejects naming the url', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  await assert.rejects(startRedis({ url }), (err: Error) => {
    assert.ok(err.message.includes(url), err.message);
    return true;
  });
});

test('startRedis never puts a password from the url in its error', async () => {
  const url = `redis://:s3cret@127.0.0.1:${await freePort()}`;
  await assert.rejects(startRedis({ url }), (err: Error) => {
    assert.ok(!err.message.includes('s3cret'), err.message);
    assert.match(err.message, /127\.0\.0\.1/);
    return true;
  });
});

test('startAzurite serves blobs with shared-key and SAS auth, and stops', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'services-test-'));
  tempDirs.push(dir);
  const [azurite, ms] = await timed(() => startAzurite({ location: join(dir, 'azurite') }));
  t.diagnostic(`Azurite started in ${ms} ms`);
  const port = Number(new URL(azurite.url).port);
  assert.equal(azurite.url, `http://127.0.0.1:${port}/devstoreaccount1`);
  assert.match(azurite.connectionString, new RegExp(`;BlobEndpoint=http://127\\.0\\.0\\.1:${port}/devstoreaccount1;$`));

  try {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('reports');
    await container.create();
    const blob = container.getBlockBlobClient('hello.txt');
    const content = 'hello from azurite';
    await blob.upload(content, Buffer.byteLength(content), { blobHTTPHeaders: { blobContentType: 'text/plain' } });

    const sasUrl = await blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 10 * 60_000),
    });
    const withSas = await fetch(sasUrl);
    assert.equal(withSas.status, 200);
    assert.equal(await withSas.text(), content);

    const withoutSas = await fetch(blob.url);
    await withoutSas.body?.cancel();
    assert.notEqual(withoutSas.status, 200);
  } finally {
    const [, stopMs] = await timed(() => azurite.stop());
    t.diagnostic(`Azurite stopped in ${stopMs} ms`);
  }
  assert.equal(await portAnswers(port), false);
  await azurite.stop(); // idempotent
});

test('startAzurite on a port already taken fails with Azurite\'s output', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'services-test-'));
  tempDirs.push(dir);
  const first = await startAzurite({ location: join(dir, 'a') });
  try {
    const port = Number(new URL(first.url).port);
    await assert.rejects(startAzurite({ location: join(dir, 'b'), port }), /EADDRINUSE/);
  } finally {
    await first.stop();
  }
});
