/**
 * Outlook actionable messages: `POST /api/actions/<verb>`, called by Outlook when someone clicks an
 * Action.Http button on the card of one of our report emails. Outlook's bearer token is verified
 * before the request body is even read; who clicked comes from the token, never from the body.
 * Every answer carries CARD-ACTION-STATUS (Outlook shows it under the card); where the card changes,
 * the body is the new card and CARD-UPDATE-IN-BODY is true. Off (404) unless the configuration has
 * `actions` (PUBLIC_BASE_URL and MAIL_SENDER, and for Entra ID tokens the tenant and the audience).
 *
 * Verb `rerun` (body {@link RerunActionBody}): queue the report again, with the same checks as a
 * request from Teams, for the person who clicked; the result is emailed to them, and also sent to
 * their chat with the bot when the bot knows it. Only for a run the archive says was emailed to that
 * person, with the report and parameters it ran with: an Entra token has no `sender` claim, so this
 * (with the token's audience being our own app registration, which only our provider uses) is what
 * ties a click to an email we sent.
 */
import { createHash } from 'node:crypto';
import type { Request, Response, Server } from 'restify';
import { z } from 'zod/v4';
import { emailRerunCard, teamsChatUrl, type AdaptiveCard } from '../cards/render.ts';
import { EmailActions, type EmailActionVerb, type RerunActionBody } from '../cards/verbs.ts';
import { mayRun } from '../core/access.ts';
import { ValidationError } from '../core/errors.ts';
import { manifestBlobName, runManifestSchema } from '../core/history.ts';
import { conversationSchema, newRunId, reportJobSchema, type ConversationRef, type ReportJob, type Requester } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import { describeParams, validateParams } from '../core/params.ts';
import { enqueueReport } from '../core/queue.ts';
import { keys } from '../core/redis.ts';
import { ActionTokenError, createActionTokenVerifier, type ActionPerformer } from './action-token.ts';
import type { BotDeps } from './context.ts';

/** An Entra object id (a GUID), as Teams and Entra tokens give them. */
const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A card's action body is a run id, a report id and its parameters: a few hundred bytes. */
const MAX_ACTION_BODY_BYTES = 16 * 1024;
/**
 * How long a queued Re-run answers repeated clicks on the same card (Outlook retries; the same email
 * is open on a phone and a desktop) with the run it already queued. The refreshed card has no Re-run
 * button, and the new run's own email brings a fresh one.
 */
const RERUN_REPEAT_WINDOW_SECONDS = 10 * 60;

const UNAVAILABLE = 'The report could not be queued just now, so nothing was run. Please try again in a minute.';

/** What an action answers: HTTP status, the CARD-ACTION-STATUS text, and a card that replaces the clicked one. */
interface Outcome {
  status: number;
  message: string;
  card?: AdaptiveCard;
}

/** A request refused before any work was done, answered with `status` and `message`. */
class ActionRequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ActionRequestError';
    this.status = status;
  }
}

const rerunBodySchema = z.object({
  runId: z.string().regex(/^[a-z0-9-]{8,64}$/, 'must be a run id'),
  reportId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a report id').max(100),
  params: z.record(z.string(), z.unknown()).default({}),
}) satisfies z.ZodType<RerunActionBody, unknown>;

/** The Re-run already queued for a card and a person, kept under keys().emailRerun. */
interface RerunRecord {
  runId: string;
  title: string;
  params: { label: string; value: string }[];
  teams: boolean;
}

/**
 * Mount `POST /api/actions/:verb` on `server` when the configuration allows email actions; returns
 * whether it did (a server without it answers 404 there).
 */
export function mountActions(server: Server, deps: BotDeps): boolean {
  const { config, log } = deps;
  if (!config.actions) return false;
  // parseConfig requires BLOB_CONNECTION_STRING with `actions`, and the bot opens the archive from it.
  if (!deps.archive) throw new Error('the Outlook actions endpoint needs the run archive (BLOB_CONNECTION_STRING)');
  const verifier = createActionTokenVerifier(config.actions);
  const verbs: Record<EmailActionVerb, (performer: ActionPerformer, body: unknown, log: Logger) => Promise<Outcome>> = {
    [EmailActions.rerun]: (performer, body, l) => rerun(deps, performer, body, l),
  };

  server.post('/api/actions/:verb', async (req: Request, res: Response) => {
    // Outlook's ids for the card and this click: logged so a support case can be traced end to end.
    const l = log.child({
      action: String(req.params?.verb ?? '').slice(0, 40),
      cardCorrelationId: headerText(req.headers['card-correlation-id']),
      actionRequestId: headerText(req.headers['action-request-id']),
    });
    let performer: ActionPerformer;
    try {
      performer = await verifier.verify(req.headers);
    } catch (err) {
      const reason = err instanceof ActionTokenError ? err.reason : 'verification failed';
      if (err instanceof ActionTokenError && !err.keysUnavailable) l.warn({ reason }, 'Outlook action refused');
      else l.error({ err, reason }, 'Outlook action refused: the token could not be checked');
      answer(res, { status: 401, message: 'This action could not be verified, so nothing was done.' });
      return;
    }
    try {
      const verb = String(req.params?.verb ?? '');
      const handler = Object.hasOwn(verbs, verb) ? verbs[verb as EmailActionVerb] : undefined;
      if (!handler) throw new ActionRequestError(400, `Unknown action "${verb.slice(0, 40)}"; nothing was done.`);
      const body = parseJson(await readBody(req, MAX_ACTION_BODY_BYTES));
      answer(res, await handler(performer, body, l.child({ user: performer.objectId ?? performer.email })));
    } catch (err) {
      if (err instanceof ActionRequestError) {
        l.info({ status: err.status, problem: err.message }, 'Outlook action refused');
        answer(res, { status: err.status, message: err.message });
        return;
      }
      l.error({ err }, 'Outlook action failed');
      answer(res, { status: 503, message: UNAVAILABLE });
    }
  });
  return true;
}

/**
 * Who clicked, as a requester. `upn` is the address the token names (Entra `preferred_username`,
 * legacy `sub`). `aadObjectId` is the token's `oid` (always there in an Entra token); otherwise
 * `mail:<email>`: stable per person, so repeated clicks and
 * history line up, and never shaped like an Entra object id, so it cannot match an object id in an
 * access rule or ADMIN_USERS, nor find somebody else's Teams chat.
 */
export function requesterFromToken(performer: ActionPerformer, name = ''): Requester {
  return {
    aadObjectId: performer.objectId ?? `mail:${performer.email.toLowerCase()}`,
    name: name || performer.email,
    upn: performer.email,
  };
}

async function rerun(deps: BotDeps, performer: ActionPerformer, raw: unknown, log: Logger): Promise<Outcome> {
  const parsed = rerunBodySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ActionRequestError(400, `The re-run request is incomplete (${issue?.path.join('.') || 'body'}: ${issue?.message}); nothing was queued.`);
  }
  const body = parsed.data;
  if (!await emailedTo(deps, body, performer, log)) {
    throw new ActionRequestError(404, `Run ${body.runId} of "${body.reportId}" is not a report emailed to you, so nothing was queued.`);
  }
  // The bot knows the person's Teams chat only by their Entra object id.
  const conversation = performer.objectId ? await storedConversation(deps, performer.objectId, log) : undefined;
  const requester = requesterFromToken(performer, String(conversation?.user?.name ?? ''));
  const k = keys(deps.config.REDIS_PREFIX);
  const repeatKey = k.emailRerun(body.runId, requester.aadObjectId, digest(body.reportId, body.params));
  const summary = (r: RerunRecord) => emailRerunCard({
    ...r, rerunOf: body.runId, performer: performer.email, originator: deps.config.ACTIONABLE_ORIGINATOR,
    teamsUrl: deps.config.BOT_ID ? teamsChatUrl(deps.config.BOT_ID) : undefined,
  });
  const also = (r: RerunRecord) => (r.teams ? ' and sent to you in Teams' : '');
  const repeated = async (): Promise<Outcome | undefined> => {
    const json = await deps.redis.get(repeatKey);
    if (!json) return undefined;
    const r = JSON.parse(json) as RerunRecord;
    log.info({ runId: r.runId, rerunOf: body.runId }, 'repeated Re-run answered with the run already queued');
    return { status: 200, message: `Already queued as run ${r.runId}; the file will be emailed to you${also(r)}.`, card: summary(r) };
  };
  const earlier = await repeated();
  if (earlier) return earlier;

  // A report the person may not run is answered exactly like one that does not exist.
  const report = deps.catalog.reports.get(body.reportId);
  if (!report || !mayRun(report, requester)) {
    throw new ActionRequestError(404, `The report "${body.reportId}" is not available to you, so nothing was queued.`);
  }
  let choices;
  try {
    choices = await deps.choices.forReport(report);
  } catch (err) {
    log.error({ err, reportId: report.id }, 'could not load choice lists');
    throw new ActionRequestError(503, UNAVAILABLE);
  }
  let params;
  try {
    params = validateParams(report.id, report.parameters, body.params, report.rules, { choices });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ActionRequestError(400, `Nothing was queued: ${err.message}.`);
  }

  const record: RerunRecord = {
    runId: newRunId(), title: report.title, params: describeParams(report.parameters, params), teams: conversation !== undefined,
  };
  // Claimed before queueing, so two clicks racing each other queue one run between them.
  const claimed = await deps.redis.set(repeatKey, JSON.stringify(record), 'EX', RERUN_REPEAT_WINDOW_SECONDS, 'NX');
  if (!claimed) {
    const other = await repeated();
    if (other) return other;
    throw new ActionRequestError(503, UNAVAILABLE);
  }
  const job: ReportJob = reportJobSchema.parse({
    runId: record.runId,
    reportId: report.id,
    params,
    requestedBy: requester,
    conversation,
    requestedAt: new Date().toISOString(),
    origin: 'email',
    delivery: { email: true, teams: record.teams },
  });
  try {
    await enqueueReport(deps.queue, job, deps.config);
  } catch (err) {
    await deps.redis.del(repeatKey).catch(() => {});
    log.error({ err, runId: job.runId, reportId: report.id }, 'could not enqueue');
    throw new ActionRequestError(503, UNAVAILABLE);
  }
  log.info({ runId: job.runId, rerunOf: body.runId, reportId: report.id, origin: 'email', teams: record.teams }, 'run queued');
  return { status: 200, message: `Queued as run ${job.runId}; the file will be emailed to you${also(record)}.`, card: summary(record) };
}

/**
 * Was run `body.runId` of `body.reportId` emailed to the person who clicked, with these parameters?
 * Its run.json in the archive (written right after delivery) must record an email sent, to a requester
 * who is the performer (same Entra object id; without one on either side, the address the email went
 * to), and the parameters
 * the card carries. So a token alone re-runs nothing: the body must name one of our emails to that
 * person, as the card in it does.
 */
async function emailedTo(deps: BotDeps, body: z.infer<typeof rerunBodySchema>, performer: ActionPerformer, log: Logger): Promise<boolean> {
  const raw = await deps.archive!.readJson(manifestBlobName(body.reportId, body.runId)).catch((err: unknown) => {
    log.error({ err, runId: body.runId }, 'could not read the run\'s manifest');
    throw new ActionRequestError(503, UNAVAILABLE);
  });
  const parsed = runManifestSchema.safeParse(raw);
  const why = (problem: string) => {
    log.warn({ runId: body.runId, reportId: body.reportId, problem }, 'Re-run refused: not one of our emails to this person');
    return false;
  };
  if (!parsed.success) return why(raw === undefined ? 'no such run in the archive' : 'unreadable manifest');
  const run = parsed.data;
  if (run.runId !== body.runId || run.reportId !== body.reportId) return why('manifest names another run');
  if (!run.deliveries.some((d) => d.channel === 'email' && d.status === 'sent')) return why('the run was not emailed');
  // The immutable object id decides when both sides have one (an address can be renamed or reused);
  // otherwise the address the email went to.
  const runObject = OBJECT_ID.test(run.requestedBy.aadObjectId) ? run.requestedBy.aadObjectId.toLowerCase() : undefined;
  const samePerson = runObject && performer.objectId
    ? runObject === performer.objectId.toLowerCase()
    : run.requestedBy.upn !== '' && run.requestedBy.upn.toLowerCase() === performer.email.toLowerCase();
  if (!samePerson) return why('emailed to someone else');
  if (digest(run.reportId, run.params) !== digest(body.reportId, body.params)) return why('parameters differ from the run');
  return true;
}

/** The person's latest Teams conversation with the bot, if the bot has one on record and it is usable. */
async function storedConversation(deps: BotDeps, objectId: string, log: Logger): Promise<ConversationRef | undefined> {
  const stored = await deps.conversations.get(objectId);
  if (!stored) return undefined;
  const parsed = conversationSchema.safeParse(stored);
  if (!parsed.success) {
    log.warn({ issue: parsed.error.issues[0]?.message }, 'stored conversation reference unusable; result goes by email only');
    return undefined;
  }
  return parsed.data;
}

/** Same report and parameters → same digest, whatever order the card wrote the parameters in. */
function digest(reportId: string, params: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.keys(params).sort().map((k) => [k, params[k]]));
  return createHash('sha256').update(JSON.stringify([reportId, sorted])).digest('base64url').slice(0, 16);
}

function answer(res: Response, outcome: Outcome): void {
  res.header('CARD-ACTION-STATUS', headerSafe(outcome.message));
  if (outcome.card) {
    res.header('CARD-UPDATE-IN-BODY', 'true');
    res.send(outcome.status, outcome.card);
  } else {
    res.send(outcome.status, { error: { message: outcome.message } });
  }
}

/** HTTP header values are Latin-1 at best: accents are dropped, anything else outside ASCII becomes "?". */
function headerSafe(text: string): string {
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return (Array.isArray(value) ? value[0] : value)?.slice(0, 100);
}

/** The request body as text, refused (413) past `limit` bytes without reading further. */
async function readBody(req: Request, limit: number): Promise<string> {
  const tooLarge = () => new ActionRequestError(413, 'The action\'s data is too large; nothing was done.');
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new ActionRequestError(400, 'The action came without data; nothing was done.');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ActionRequestError(400, 'The action\'s data is not valid JSON; nothing was done.');
  }
}
