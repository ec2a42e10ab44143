/**
 * Delivering a finished run, channel by channel, each tracked in the run's Redis hash as
 * `delivery:<channel>` (a DeliveryRecord):
 * - onedrive: with Graph, the workbook uploaded to the requester's OneDrive (or the library) and shared;
 * - email: the workbook emailed to the requester when the request or the report says so;
 * - teams: the proactive result card ("Open in Excel" with Graph, the archive download always).
 * A channel recorded as sent is never sent again, on any later attempt of the job. A channel that failed
 * is tried again on the next attempt; the Teams card waits for OneDrive unless it is the last attempt.
 * Failures that will not be retried (the last attempt, or no retry can help) are told to the requester
 * in Teams together with what still works.
 *
 * Email is the one send Graph cannot make idempotent: see sendEmailOnce() for the guarantee.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { checksSummary, deliveryFailedCard, emailActionCard, formatDuration, resultCard } from '../../cards/render.ts';
import { XLSX_TYPE, type Archive } from '../../core/archive.ts';
import type { Report } from '../../core/catalog.ts';
import type { Config } from '../../core/config.ts';
import { DeliveryError } from '../../core/errors.ts';
import { deliveryRecordsOf, type DeliveryChannel, type DeliveryRecord, type ReportJob, type RunResult } from '../../core/job.ts';
import type { Logger } from '../../core/logger.ts';
import { describeParams, type ParamValues } from '../../core/params.ts';
import { recordDelivery } from '../../core/metrics.ts';
import { keys } from '../../core/redis.ts';
import type { Notifier } from '../worker.ts';
import { deleteDraft, emailHtml, encodedMessageBytes, INLINE_ATTACHMENT_MAX_BYTES, messagesOfRun, sendReportEmail, type EmailBody, type ReportEmail } from './email.ts';
import { graphError, type GraphDelivery, type GraphSession } from './graph.ts';
import { driveFileName, driveRoot, sharingLink, uploadFile } from './onedrive.ts';

/**
 * How long after an interrupted send we wait before trusting Sent Items: sendMail is accepted (202)
 * before Exchange files the sent copy.
 */
export const SENT_ITEMS_GRACE_MS = 60_000;

/** What delivery needs from the runner. */
export interface DeliveryDeps {
  config: Config;
  redis: Redis;
  archive: Archive;
  notifier: Notifier;
  /** Present when Graph is configured; absent = local mode (download links only). */
  graph?: GraphDelivery;
}

/** A finished run to deliver. */
export interface RunToDeliver {
  job: ReportJob;
  report: Report;
  params: ParamValues;
  result: RunResult;
  /** 1-based attempt of the BullMQ job. */
  attempt: number;
  /** No attempt comes after this one: whatever fails now is told to the requester. */
  final: boolean;
  log: Logger;
  signal?: AbortSignal;
  /** Send result and notices to the requester's 1:1 chat (the report is private). */
  privately?: boolean;
  /** Called right before the result card is sent (the status card shows the outcome first). */
  beforeResultCard?: () => Promise<void>;
}

/** The record of an email send that started but whose outcome was not recorded (kept in the run hash). */
interface SendingMark {
  at: string;
  attempt: number;
  draftId?: string;
}

interface Failure {
  channel: DeliveryChannel;
  error: DeliveryError;
  /** What the requester is told, in plain words. */
  message: string;
}

/** Which channels a run goes to: the request's choice, else the report's default; Teams unless declined. */
export function wantedChannels(job: Pick<ReportJob, 'delivery'>, report: Pick<Report, 'delivery'>): { teams: boolean; email: boolean } {
  return { teams: job.delivery?.teams ?? true, email: job.delivery?.email ?? report.delivery.email };
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * Deliver a run. Returns the channel records when every wanted channel is delivered, skipped, or its
 * failure has been told to the requester; throws a DeliveryError when a channel failed and a later
 * attempt should try it again (or when the Teams card itself could not be sent).
 */
export async function deliverRun(deps: DeliveryDeps, run: RunToDeliver): Promise<Partial<Record<DeliveryChannel, DeliveryRecord>>> {
  const { job, report, params, result, log } = run;
  const runKey = keys(deps.config.REDIS_PREFIX).run(job.runId);
  const records = deliveryRecordsOf(await deps.redis.hgetall(runKey));
  const want = wantedChannels(job, report);
  const graph = deps.graph;
  const mail = graph?.config.mail;
  const session: GraphSession | undefined = graph?.session(log, run.signal);
  const failures: Failure[] = [];
  /** Things the requester should know that are not failures (no address to email to). */
  const skipped: string[] = [];

  const record = async (channel: DeliveryChannel, status: DeliveryRecord['status'], extra: Pick<DeliveryRecord, 'url' | 'detail'> = {}) => {
    const rec: DeliveryRecord = { channel, status, attempts: (records[channel]?.attempts ?? 0) + 1, at: new Date().toISOString(), ...extra };
    records[channel] = rec;
    recordDelivery(channel, status);
    await deps.redis.hset(runKey, `delivery:${channel}`, JSON.stringify(rec));
  };
  const fail = async (channel: DeliveryChannel, err: unknown, message: string) => {
    let error: DeliveryError;
    if (err instanceof DeliveryError) {
      error = err;
    } else {
      const cause = graphError(channel, err);
      error = new DeliveryError(channel, cause.message, { cause, permanent: !cause.transient });
    }
    log.error({ channel, err: error, permanent: error.permanent }, 'delivery failed');
    await record(channel, 'failed', { detail: error.message });
    failures.push({ channel, error, message });
  };

  let dir: string | undefined;
  let local: { path: string; size: number } | undefined;
  const workbook = async () => {
    if (!local) {
      dir = await mkdtemp(join(tmpdir(), `deliver-${job.runId}-`));
      const path = join(dir, result.fileName);
      await deps.archive.downloadToFile(result.blobName, path);
      local = { path, size: (await stat(path)).size };
    }
    return local;
  };

  try {
    const teamsPending = want.teams && records.teams?.status !== 'sent';
    const emailSettled = records.email?.status === 'sent' || records.email?.status === 'skipped';
    let emailPending = want.email && !emailSettled;
    if (emailPending) {
      const reason = !mail ? 'email is not set up on this bot' : !job.requestedBy.upn ? 'I do not know your email address' : undefined;
      if (reason) {
        await record('email', 'skipped', { detail: reason });
        // A report that emails by default says nothing where email is not set up; a person who asked does hear.
        if (mail || job.delivery?.email === true) skipped.push(`Not emailed: ${reason}.`);
        emailPending = false;
      }
    }

    const emailBody = emailPending ? await emailSummary(deps, run) : undefined;
    const emailFits = emailBody ? encodedMessageBytes((await workbook()).size, emailHtml(emailBody)) <= mail!.maxMessageBytes : true;

    let openUrl = records.onedrive?.status === 'sent' ? records.onedrive.url : undefined;
    if (graph && session && !openUrl && (teamsPending || (emailPending && !emailFits))) {
      const where = graph.config.files.kind === 'requester' ? 'your OneDrive' : 'the SharePoint library';
      try {
        const file = await workbook();
        const root = driveRoot(graph.config.files, job.requestedBy);
        const item = await uploadFile(session, root, graph.config.folder, {
          ...file, name: driveFileName(result.fileName, job.runId), contentType: XLSX_TYPE,
        });
        openUrl = await sharingLink(session, root, item, graph.config.linkScope, job.requestedBy);
        await record('onedrive', 'sent', { url: openUrl });
        log.info({ channel: 'onedrive', itemId: item.id, bytes: file.size, linkScope: graph.config.linkScope }, 'workbook uploaded and shared');
      } catch (err) {
        await fail('onedrive', err, `I could not put the workbook in ${where}.`);
      }
    }

    let emailedTo = records.email?.status === 'sent' ? job.requestedBy.upn : undefined;
    if (emailPending && emailBody && mail && session) {
      try {
        const detail = await sendEmailOnce(deps, run, session, mail.sender, emailBody, await workbook(), emailFits, openUrl);
        await record('email', 'sent', { detail });
        emailedTo = job.requestedBy.upn;
        log.info({ channel: 'email', detail }, 'email sent');
      } catch (err) {
        await fail('email', err, `I could not email the workbook to ${job.requestedBy.upn}.`);
      }
    }

    // Failures that no later attempt will retry are told now; transient ones on a non-final attempt are not (yet).
    const settle = run.final || failures.every((f) => f.error.permanent);
    const toTell = settle ? [...skipped, ...failures.map((f) => f.message)] : skipped;
    let told = false;
    const downloadUrl = () => deps.archive.downloadUrl(result.blobName, deps.config.DOWNLOAD_LINK_MINUTES, result.fileName);
    if (teamsPending) {
      if (failures.some((f) => f.channel === 'onedrive') && !settle) {
        log.info({ channel: 'teams' }, 'result card held until the OneDrive upload works or the last attempt');
      } else {
        const url = await downloadUrl();
        await run.beforeResultCard?.();
        try {
          await deps.notifier.sendCard(job, resultCard(report, params, {
            runId: job.runId, fileName: result.fileName, rows: result.rows, durationMs: result.durationMs,
            downloadUrl: url, linkMinutes: deps.config.DOWNLOAD_LINK_MINUTES, checks: result.checks,
            openUrl, emailedTo, notes: toTell,
          }), `${report.title} is ready.`, { privately: run.privately });
          await record('teams', 'sent', { url: openUrl ?? url });
          told = true;
        } catch (err) {
          await fail('teams', err, 'I could not send you the result in Teams.');
        }
      }
    }
    if (!told && toTell.length > 0 && job.origin !== 'cli') {
      // The result card went out earlier (or was not wanted): a separate notice, once per run.
      if (await deps.redis.hsetnx(runKey, 'notice:delivery', new Date().toISOString()) === 1) {
        try {
          await deps.notifier.sendCard(job, deliveryFailedCard(report, {
            runId: job.runId, problems: toTell, openUrl, downloadUrl: await downloadUrl(), linkMinutes: deps.config.DOWNLOAD_LINK_MINUTES,
          }), `${report.title}: not fully delivered.`, { privately: run.privately });
        } catch (err) {
          log.error({ err }, 'could not tell the requester about the failed delivery');
        }
      }
    }

    const teamsFailure = failures.find((f) => f.channel === 'teams');
    if (teamsFailure) throw teamsFailure.error;
    if (!settle) {
      const channels = failures.map((f) => f.channel).join(', ');
      throw new DeliveryError(channels, `delivery failed (${channels}); a later attempt retries it: ${failures.map((f) => f.error.message).join('; ')}`);
    }
    return records;
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** The summary shown in the email (attached variant; sendEmailOnce() swaps in the link when needed). */
async function emailSummary(deps: DeliveryDeps, run: RunToDeliver): Promise<EmailBody> {
  const { report, params, result, job } = run;
  const actionable = deps.graph?.config.mail?.actionable;
  const checks = checksSummary(result.checks);
  return {
    title: report.title,
    runId: job.runId,
    params: describeParams(report.parameters, params).map(({ label, value }) => ({ label, value })),
    rows: result.rows,
    duration: formatDuration(result.durationMs),
    checks,
    checksFailed: checks.includes('FAILED'),
    fileName: result.fileName,
    delivery: { attached: true },
    card: actionable ? emailActionCard(report, job.runId, params, { ...actionable, botId: deps.config.BOT_ID }) : undefined,
  };
}

/**
 * Send the run's email unless an earlier attempt already did.
 *
 * Guarantee: before each send the run hash gets `sending:email`; after Graph accepts it (202),
 * `delivery:email` is written and the mark removed. A later attempt that finds the mark without the
 * record does not know whether the earlier send went out (the runner died between the 202 and the
 * write, or the connection dropped after Graph had the request). It waits until SENT_ITEMS_GRACE_MS
 * after that send started, then looks in the sender's Sent Items for a message stamped with the run id:
 * found = sent, recorded, not sent again; not found = its stale drafts are deleted and it is sent again.
 * So an email is never sent twice unless Exchange takes longer than the grace period to file the sent
 * copy of an interrupted send; it is never lost while attempts remain (at least once, duplicates
 * suppressed).
 */
async function sendEmailOnce(
  deps: DeliveryDeps, run: RunToDeliver, graph: GraphSession, sender: string, body: EmailBody,
  file: { path: string; size: number }, fits: boolean, openUrl: string | undefined,
): Promise<string> {
  const { job, result, log } = run;
  const runKey = keys(deps.config.REDIS_PREFIX).run(job.runId);
  const markRaw = await deps.redis.hget(runKey, 'sending:email');
  if (markRaw) {
    const mark = JSON.parse(markRaw) as SendingMark;
    const waitMs = SENT_ITEMS_GRACE_MS - (Date.now() - Date.parse(mark.at));
    if (waitMs > 0) {
      log.info({ channel: 'email', waitMs, earlierAttempt: mark.attempt }, 'an earlier send was interrupted; waiting before looking in Sent Items');
      await sleep(waitMs, undefined, { signal: run.signal });
    }
    if ((await messagesOfRun(graph, sender, 'sentitems', job.runId)).length > 0) {
      log.warn({ channel: 'email', earlierAttempt: mark.attempt }, 'the interrupted send went out (found in Sent Items); not sending again');
      await deps.redis.hdel(runKey, 'sending:email');
      return 'sent by an earlier attempt (found in Sent Items)';
    }
    const drafts = new Set(await messagesOfRun(graph, sender, 'drafts', job.runId));
    if (mark.draftId) drafts.add(mark.draftId);
    for (const id of drafts) await deleteDraft(graph, sender, id);
    log.info({ channel: 'email', staleDrafts: drafts.size }, 'the interrupted send did not go out; sending again');
  }

  let draftId: string | undefined;
  const setMark = async () => {
    await deps.redis.hset(runKey, 'sending:email', JSON.stringify({ at: new Date().toISOString(), attempt: run.attempt, draftId } satisfies SendingMark));
  };
  let html: string;
  let attachment: ReportEmail['file'];
  if (fits) {
    html = emailHtml(body);
    attachment = { ...file, name: result.fileName, contentType: XLSX_TYPE };
    if (file.size < INLINE_ATTACHMENT_MAX_BYTES) attachment.bytes = await readFile(file.path);
  } else {
    const limitMb = (deps.graph?.config.mail?.maxMessageBytes ?? 0) / (1024 * 1024);
    const url = openUrl ?? await deps.archive.downloadUrl(result.blobName, deps.config.DOWNLOAD_LINK_MINUTES, result.fileName);
    html = emailHtml({
      ...body,
      delivery: {
        attached: false,
        url,
        reason: `The workbook (${megabytes(file.size)}) is too large to attach: this mailbox can send messages up to ${limitMb} MB.`,
        validity: openUrl ? undefined : `the link works for ${deps.config.DOWNLOAD_LINK_MINUTES} minutes`,
      },
    });
  }
  const email: ReportEmail = {
    to: { address: job.requestedBy.upn, name: job.requestedBy.name || undefined },
    subject: emailSubject(body),
    html,
    runId: job.runId,
    file: attachment,
  };
  await setMark();
  try {
    const how = await sendReportEmail(graph, sender, email, async (id) => {
      draftId = id;
      await setMark();
    }, setMark);
    await deps.redis.hdel(runKey, 'sending:email');
    return how === 'inline' ? 'attached inline'
      : how === 'upload-session' ? 'attached through an upload session'
        : `sent a link instead of the attachment (${megabytes(file.size)} is over the message limit)`;
  } catch (err) {
    // Graph answered with an error: nothing was sent, so the next attempt need not look in Sent Items.
    if (graphError('email', err).status !== 0) await deps.redis.hdel(runKey, 'sending:email');
    throw err;
  }
}

/** "Trial Balance is ready (PCN 900101, Period 202503)", short enough for a subject line. */
function emailSubject(body: EmailBody): string {
  const params = body.params.map((p) => `${p.label} ${p.value}`).join(', ');
  const short = params.length > 100 ? `${params.slice(0, 99)}…` : params;
  return short ? `${body.title} is ready (${short})` : `${body.title} is ready`;
}
