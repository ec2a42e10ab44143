/**
 * The workbook in OneDrive or SharePoint: uploaded to the requester's OneDrive (or the configured
 * library) with a simple PUT up to 4 MB and an upload session above, then shared with a link scoped
 * to the organization or to the requester alone.
 *
 * Repeating it is harmless: the same run always writes the same path with conflictBehavior=replace
 * (same item, new version), and createLink returns the existing link of the same type and scope.
 */
import { open } from 'node:fs/promises';
import type { GraphConfig } from '../../core/config.ts';
import type { Requester } from '../../core/job.ts';
import { graphError, GraphCallError, type GraphSession } from './graph.ts';

/** Graph's documented ceiling for the simple upload (PUT …/content). */
export const SIMPLE_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;

/** The parts of a driveItem we use. */
export interface DriveItem {
  id: string;
  name: string;
  webUrl?: string;
  size?: number;
  parentReference?: { driveId?: string };
}

/** The drive a requester's files go to, as a Graph path. */
export function driveRoot(files: GraphConfig['files'], requester: Pick<Requester, 'aadObjectId'>): string {
  switch (files.kind) {
    case 'requester':
      return `/users/${encodeURIComponent(requester.aadObjectId)}/drive`;
    case 'site':
      return files.driveId
        ? `/sites/${encodeURIComponent(files.siteId)}/drives/${encodeURIComponent(files.driveId)}`
        : `/sites/${encodeURIComponent(files.siteId)}/drive`;
    case 'drive':
      return `/drives/${encodeURIComponent(files.driveId)}`;
  }
}

/**
 * The file name in the drive: the report's own name with the run id added when it lacks one, so two
 * runs never overwrite each other's file (and links), while a retry of the same run replaces its own.
 */
export function driveFileName(fileName: string, runId: string): string {
  if (fileName.includes(runId)) return fileName;
  return fileName.replace(/(\.xlsx)?$/i, (ext) => ` (${runId})${ext || '.xlsx'}`);
}

/** Upload a local file to `<folder>/<name>` of the drive; returns the driveItem. */
export async function uploadFile(
  graph: GraphSession, root: string, folder: string, file: { path: string; size: number; name: string; contentType: string },
): Promise<DriveItem> {
  const itemPath = `${root}/root:/${[...folder.split('/'), file.name].map(encodeURIComponent).join('/')}:`;
  if (file.size <= SIMPLE_UPLOAD_MAX_BYTES) {
    const handle = await open(file.path, 'r');
    let bytes: Buffer;
    try {
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
    try {
      return await graph.client.api(`${itemPath}/content`)
        .query({ '@microsoft.graph.conflictBehavior': 'replace' })
        .header('Content-Type', file.contentType)
        .put(bytes) as DriveItem;
    } catch (err) {
      throw graphError('uploading the workbook', err);
    }
  }
  let session: { uploadUrl: string; nextExpectedRanges?: string[] };
  try {
    session = await graph.client.api(`${itemPath}/createUploadSession`).post({
      item: { '@microsoft.graph.conflictBehavior': 'replace', name: file.name },
    }) as typeof session;
  } catch (err) {
    throw graphError('creating the upload session', err);
  }
  try {
    const done = await graph.uploadSession('uploading the workbook', session.uploadUrl, file, { resume: true, nextExpectedRanges: session.nextExpectedRanges });
    const item = done.body as DriveItem | undefined;
    if (!item?.id) throw new GraphCallError('uploading the workbook', done.status, 'NoDriveItem', 'the last fragment\'s reply named no file');
    return item;
  } catch (err) {
    await graph.cancelUploadSession(session.uploadUrl);
    throw graphError('uploading the workbook', err);
  }
}

/** A view link to the item: for the organization, or (scope `users`) for the requester only. */
export async function sharingLink(
  graph: GraphSession, root: string, item: DriveItem, scope: GraphConfig['linkScope'], requester: Requester,
): Promise<string> {
  const itemPath = item.parentReference?.driveId
    ? `/drives/${encodeURIComponent(item.parentReference.driveId)}/items/${encodeURIComponent(item.id)}`
    : `${root}/items/${encodeURIComponent(item.id)}`;
  const body: Record<string, unknown> = { type: 'view', scope };
  if (scope === 'users') {
    const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(requester.aadObjectId);
    if (!guid && !requester.upn) throw new GraphCallError('creating the sharing link', 0, 'NoRecipient', 'the requester has neither an Entra object id nor an address');
    body.recipients = [guid ? { objectId: requester.aadObjectId } : { email: requester.upn }];
  }
  let permission: { link?: { webUrl?: string } };
  try {
    permission = await graph.client.api(`${itemPath}/createLink`).post(body) as typeof permission;
  } catch (err) {
    throw graphError('creating the sharing link', err);
  }
  const url = permission.link?.webUrl;
  if (!url) throw new GraphCallError('creating the sharing link', 0, 'NoLink', 'the reply held no link');
  return url;
}
