/**
 * The request that travels from the bot to a runner through the queue. The bot builds it from a
 * chat message or a card; the runner re-validates it before doing anything.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod/v4';

export const requesterSchema = z.object({
  aadObjectId: z.string().min(1),
  name: z.string().default(''),
  upn: z.string().default(''),
});

/** A Bot Framework ConversationReference, kept loose: it is opaque to everything outside bot/. */
export const conversationSchema = z.object({
  serviceUrl: z.string().url(),
  channelId: z.string(),
  conversation: z.object({ id: z.string() }).passthrough(),
  bot: z.object({ id: z.string() }).passthrough().optional(),
  user: z.object({ id: z.string() }).passthrough().optional(),
  activityId: z.string().optional(),
  locale: z.string().optional(),
}).passthrough();

export const reportJobSchema = z.object({
  runId: z.string().regex(/^[a-z0-9-]{8,64}$/),
  reportId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  params: z.record(z.string(), z.unknown()),
  requestedBy: requesterSchema,
  /** Where to answer in Teams; absent only for CLI runs, which are not delivered to Teams. */
  conversation: conversationSchema.optional(),
  statusActivityId: z.string().optional(),
  requestedAt: z.string().datetime(),
  origin: z.enum(['chat', 'card', 'schedule', 'email', 'cli']),
  /**
   * Where the result goes besides the archive. Absent: the report's defaults (Teams, plus email when
   * the report definition says so). Email goes to `requestedBy.upn`.
   */
  delivery: z.object({ teams: z.boolean().optional(), email: z.boolean().optional() }).optional(),
}).refine((j) => j.origin === 'cli' || j.origin === 'email' || j.conversation !== undefined, {
  message: 'conversation is required unless the run comes from the CLI or an email action', path: ['conversation'],
});

export type Requester = z.infer<typeof requesterSchema>;
export type ConversationRef = z.infer<typeof conversationSchema>;
export type ReportJob = z.infer<typeof reportJobSchema>;

/** A delivery channel: the Teams card, the workbook in OneDrive/SharePoint, the email. */
export type DeliveryChannel = 'teams' | 'onedrive' | 'email';

/**
 * How one channel's delivery of a run went. Kept as JSON in the run's Redis hash under
 * `delivery:<channel>` and copied into the archived run.json manifest.
 */
export interface DeliveryRecord {
  channel: DeliveryChannel;
  status: 'sent' | 'failed' | 'skipped';
  attempts: number;
  /** When the last attempt ended (ISO). */
  at: string;
  /** A link the channel produced (sharing link, web URL), if any. */
  url?: string;
  /** Why it failed or was skipped, in plain words. */
  detail?: string;
}

/** The channels, in the order a run delivers them. */
export const DELIVERY_CHANNELS = ['onedrive', 'email', 'teams'] as const satisfies readonly DeliveryChannel[];

/**
 * The delivery records in a run's Redis hash (`delivery:<channel>` fields). A record that cannot be
 * read counts as not delivered: at worst that channel is tried again.
 */
export function deliveryRecordsOf(hash: Record<string, string>): Partial<Record<DeliveryChannel, DeliveryRecord>> {
  const out: Partial<Record<DeliveryChannel, DeliveryRecord>> = {};
  for (const channel of DELIVERY_CHANNELS) {
    const raw = hash[`delivery:${channel}`];
    if (!raw) continue;
    try {
      out[channel] = JSON.parse(raw) as DeliveryRecord;
    } catch {
      // unreadable: as if absent
    }
  }
  return out;
}

/** What the runner returns for a finished job (BullMQ keeps it as the job's return value). */
export interface RunResult {
  runId: string;
  reportId: string;
  rows: number;
  durationMs: number;
  blobName: string;
  fileName: string;
  steps: { name: string; rows: number; ms: number }[];
  /** Reconciliation checks the run evaluated (empty for reports without checks). */
  checks: { name: string; passed: boolean; violations: number }[];
}

/**
 * A run id people can read aloud and type: date + 8 random hex digits, e.g. `20261123-3fa2c9d1`.
 * Unique enough per installation and sortable by day.
 */
export function newRunId(now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  return `${day}-${randomUUID().replaceAll('-', '').slice(0, 8)}`;
}
