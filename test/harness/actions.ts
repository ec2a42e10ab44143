/**
 * TEST ONLY: what the Outlook actions tests share. Calling `POST /api/actions/<verb>` as Outlook does,
 * reading its answer, and putting a run "that was emailed" in the archive: the endpoint re-runs only a
 * run whose run.json records an email sent to the person clicking, so every Re-run a test posts names
 * one, written the way the runner writes it (saveManifest: the blob and the history index).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Archive } from '../../core/archive.ts';
import { HistoryIndex, saveManifest, type RunManifest } from '../../core/history.ts';
import type { ReportJob } from '../../core/job.ts';
import type { Stack } from './stack.ts';

export interface ActionResponse {
  status: number;
  cardStatus: string | null;
  updateInBody: string | null;
  body: Record<string, unknown> | undefined;
}

/** POST to the bot's actions endpoint; a string body is sent as is. */
export async function postAction(stack: Stack, verb: string, body: unknown, headers: Record<string, string> = {}): Promise<ActionResponse> {
  const res = await fetch(`${stack.bot.url}/api/actions/${verb}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    cardStatus: res.headers.get('card-action-status'),
    updateInBody: res.headers.get('card-update-in-body'),
    body: text ? JSON.parse(text) as Record<string, unknown> : undefined,
  };
}

/** The run id a successful Re-run names in CARD-ACTION-STATUS. */
export function queuedRunId(res: ActionResponse): string {
  const m = /run (\d{8}-[0-9a-f]{8})/.exec(res.cardStatus ?? '');
  assert.ok(m, `no run id in CARD-ACTION-STATUS: ${res.cardStatus}`);
  return m[1];
}

/** The job a run id was queued as. */
export async function jobOf(stack: Stack, runId: string): Promise<ReportJob> {
  const job = await stack.queue.getJob(runId);
  assert.ok(job, `run ${runId} is not in the queue`);
  return job.data;
}

/** The body of a report email's Re-run button. */
export interface RerunBody {
  runId: string;
  reportId: string;
  params: Record<string, unknown>;
}

export interface EmailedRun {
  /** The address the email went to (the requester's UPN). */
  upn: string;
  /** The requester's Entra object id; `mail:<upn>` (as for a requester known only by address) when absent. */
  aadObjectId?: string;
  reportId?: string;
  params?: Record<string, unknown>;
  /** How the email delivery ended; `sent` unless a test needs a run whose email did not go out. */
  email?: 'sent' | 'failed' | 'skipped' | 'none';
}

/**
 * Record a finished run of `reportId` (default gl-accounts, PCN 900101) that was emailed to `upn`, and
 * return the body its email's Re-run button posts.
 */
export async function emailedRun(stack: Stack, run: EmailedRun): Promise<RerunBody> {
  const reportId = run.reportId ?? 'gl-accounts';
  const params = run.params ?? { pcn: '900101' };
  const runId = `20261120-${randomBytes(4).toString('hex')}`;
  const now = new Date().toISOString();
  const email = run.email ?? 'sent';
  const manifest: RunManifest = {
    manifestVersion: 1,
    runId,
    reportId,
    reportTitle: reportId,
    params: params as RunManifest['params'],
    requestedBy: { aadObjectId: run.aadObjectId ?? `mail:${run.upn.toLowerCase()}`, name: run.upn, upn: run.upn },
    origin: 'teams',
    requestedAt: now,
    startedAt: now,
    finishedAt: now,
    status: 'succeeded',
    attempts: 1,
    durationMs: 1200,
    rows: 10,
    steps: [],
    checks: [],
    file: { blobName: `runs/${reportId}/${runId}/book.xlsx`, fileName: 'book.xlsx', bytes: 1000 },
    deliveries: email === 'none' ? [] : [{ channel: 'email', status: email, attempts: 1, at: now }],
    retentionDays: 90,
  };
  await saveManifest(new Archive(stack.config), new HistoryIndex(stack.redis, stack.prefix), manifest);
  return { runId, reportId, params };
}
