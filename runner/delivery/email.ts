/**
 * The result email, sent through Microsoft Graph from the configured mailbox (MAIL_SENDER):
 * - workbook under 3 MB: one sendMail with the file attached inline;
 * - larger: a draft, an attachment upload session, then send (Graph's way for 3–150 MB);
 * - larger than the tenant's message limit: no attachment, a link instead, said in the email.
 * The HTML body carries the summary and, with an originator configured, the Outlook actionable card.
 *
 * Every message is stamped with the run id in a custom extended property, so an attempt whose outcome
 * is unknown (the runner died, or the connection dropped after Graph may have accepted the send) can
 * look in Sent Items before sending again, and can find its own stale drafts.
 */
import type { AdaptiveCard } from '../../cards/render.ts';
import { SendOnce, graphError, type GraphSession } from './graph.ts';

/** Graph's documented boundary: attachments under 3 MB go inline, from 3 MB an upload session. */
export const INLINE_ATTACHMENT_MAX_BYTES = 3 * 1024 * 1024;

/** Room for headers and MIME structure when estimating a message's size against the tenant limit. */
const MIME_OVERHEAD_BYTES = 64 * 1024;

/**
 * The extended property (a named property in our own property set) holding the run id. Filters on
 * it find the message in Sent Items or Drafts.
 */
export const RUN_ID_PROPERTY = 'String {3f1c6d52-8a47-4e0b-9c1d-7b2e5a9f4c30} Name ReportBotRunId';

/** Size of the message as Exchange counts it: base64 makes an attachment a third larger. */
export function encodedMessageBytes(attachmentBytes: number, html: string): number {
  return Math.ceil(attachmentBytes / 3) * 4 + Buffer.byteLength(html) + MIME_OVERHEAD_BYTES;
}

export interface EmailFile {
  path: string;
  size: number;
  name: string;
  contentType: string;
}

/** The message to send; `file` absent means a link-only email. */
export interface ReportEmail {
  to: { address: string; name?: string };
  subject: string;
  html: string;
  runId: string;
  file?: EmailFile & { bytes?: Buffer };
}

function message(email: ReportEmail): Record<string, unknown> {
  return {
    subject: email.subject,
    body: { contentType: 'HTML', content: email.html },
    toRecipients: [{ emailAddress: email.to.name ? { address: email.to.address, name: email.to.name } : { address: email.to.address } }],
    singleValueExtendedProperties: [{ id: RUN_ID_PROPERTY, value: email.runId }],
  };
}

const userPath = (sender: string) => `/users/${encodeURIComponent(sender)}`;

/** Ids of messages in a well-known folder (sentitems, drafts) stamped with `runId`. */
export async function messagesOfRun(graph: GraphSession, sender: string, folder: 'sentitems' | 'drafts', runId: string): Promise<string[]> {
  const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${RUN_ID_PROPERTY}' and ep/value eq '${runId.replaceAll("'", "''")}')`;
  try {
    const page = await graph.client.api(`${userPath(sender)}/mailFolders/${folder}/messages`).filter(filter).select('id').top(10).get() as { value?: { id: string }[] };
    return (page.value ?? []).map((m) => m.id);
  } catch (err) {
    throw graphError(`looking for the run's messages in ${folder}`, err);
  }
}

/** Delete a draft; one that is already gone is fine. */
export async function deleteDraft(graph: GraphSession, sender: string, id: string): Promise<void> {
  try {
    await graph.client.api(`${userPath(sender)}/messages/${encodeURIComponent(id)}`).delete();
  } catch (err) {
    const e = graphError('deleting a stale draft', err);
    if (e.status !== 404) throw e;
  }
}

/**
 * Send the email. `onDraft` is called with the draft's id as soon as one exists (large attachments), so
 * the caller can record it for a later attempt to clean up; `beforeSend` right before the call that
 * sends (sendMail, or the draft's send), when the outcome stops being certain.
 */
export async function sendReportEmail(
  graph: GraphSession, sender: string, email: ReportEmail, onDraft: (draftId: string) => Promise<void>, beforeSend: () => Promise<void>,
): Promise<'inline' | 'upload-session' | 'link'> {
  const base = userPath(sender);
  if (!email.file || email.file.size < INLINE_ATTACHMENT_MAX_BYTES) {
    const msg = message(email);
    if (email.file) {
      if (!email.file.bytes) throw new Error('an inline attachment needs its bytes');
      msg.attachments = [{
        '@odata.type': '#microsoft.graph.fileAttachment',
        name: email.file.name,
        contentType: email.file.contentType,
        contentBytes: email.file.bytes.toString('base64'),
      }];
    }
    await beforeSend();
    try {
      await graph.client.api(`${base}/sendMail`).middlewareOptions([new SendOnce()]).post({ message: msg, saveToSentItems: true });
    } catch (err) {
      throw graphError('sendMail', err);
    }
    return email.file ? 'inline' : 'link';
  }

  let draft: { id: string };
  try {
    draft = await graph.client.api(`${base}/messages`).middlewareOptions([new SendOnce()]).post(message(email)) as { id: string };
  } catch (err) {
    throw graphError('creating the draft', err);
  }
  await onDraft(draft.id);
  const messagePath = `${base}/messages/${encodeURIComponent(draft.id)}`;
  let session: { uploadUrl: string; nextExpectedRanges?: string[] } | undefined;
  try {
    try {
      session = await graph.client.api(`${messagePath}/attachments/createUploadSession`).post({
        AttachmentItem: { attachmentType: 'file', name: email.file.name, size: email.file.size, contentType: email.file.contentType },
      }) as { uploadUrl: string; nextExpectedRanges?: string[] };
    } catch (err) {
      throw graphError('creating the attachment upload session', err);
    }
    await graph.uploadSession('uploading the attachment', session.uploadUrl, email.file, { resume: false, nextExpectedRanges: session.nextExpectedRanges });
  } catch (err) {
    // Nothing was sent: the half-built draft goes (best effort; a later attempt sweeps what is left).
    if (session) await graph.cancelUploadSession(session.uploadUrl);
    await deleteDraft(graph, sender, draft.id).catch(() => undefined);
    throw graphError('attaching the workbook', err);
  }
  await beforeSend();
  try {
    // Documented without a request body.
    await graph.client.api(`${messagePath}/send`).middlewareOptions([new SendOnce()]).post(undefined);
  } catch (err) {
    const e = graphError('sending the draft', err);
    // Graph refused it: not sent, the draft goes. No reply at all: it may have gone; the next attempt checks.
    if (e.status !== 0) await deleteDraft(graph, sender, draft.id).catch(() => undefined);
    throw e;
  }
  return 'upload-session';
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

export interface EmailBody {
  title: string;
  runId: string;
  params: { label: string; value: string }[];
  rows: number;
  duration: string;
  checks: string;
  checksFailed: boolean;
  fileName: string;
  /** Attached, or a link with the reason it is not attached. */
  delivery: { attached: true } | { attached: false; url: string; reason: string; validity?: string };
  /** The Outlook actionable card for the head, when configured. */
  card?: AdaptiveCard;
}

/** The result email's HTML: the actionable card in the head, the summary in the body. */
export function emailHtml(b: EmailBody): string {
  // `<` is escaped inside the JSON so no value can close the script element.
  const card = b.card
    ? `<script type="application/adaptivecard+json">${JSON.stringify(b.card).replace(/</g, '\\u003c')}</script>`
    : '';
  const row = (label: string, value: string) =>
    `<tr><th align="left" style="padding:2px 12px 2px 0;font-weight:600">${escapeHtml(label)}</th><td style="padding:2px 0">${escapeHtml(value)}</td></tr>`;
  const facts = [
    ...b.params.map((p) => row(p.label, p.value)),
    row('Rows', b.rows.toLocaleString('en-US')),
    row('Took', b.duration),
    ...(b.checks ? [row('Checks', b.checks)] : []),
    row('File', b.fileName),
    row('Run id', b.runId),
  ].join('');
  const file = b.delivery.attached
    ? '<p>The workbook is attached.</p>'
    : `<p>${escapeHtml(b.delivery.reason)} <a href="${escapeHtml(b.delivery.url)}">Open the workbook</a>${b.delivery.validity ? ` (${escapeHtml(b.delivery.validity)})` : ''}.</p>`;
  const warning = b.checksFailed
    ? '<p style="color:#a80000">Some checks failed: the numbers do not reconcile. See the Checks sheet before using them.</p>'
    : '';
  return `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">${card}</head>`
    + `<body style="font-family:Segoe UI,Arial,sans-serif;font-size:14px">`
    + `<h2 style="margin:0 0 8px 0">${escapeHtml(b.title)} is ready</h2>`
    + `<table cellspacing="0" cellpadding="0">${facts}</table>${warning}${file}`
    + `<p style="color:#666;font-size:12px">Sent by the report bot. Quote the run id if you ask for help.</p></body></html>`;
}
