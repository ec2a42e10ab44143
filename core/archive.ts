/**
 * The report archive in Azure Blob Storage (Azurite locally): one folder per run,
 * `runs/<reportId>/<runId>/<file>`. Download links are short-lived, read-only SAS URLs.
 */
import {
  BlobSASPermissions, BlobServiceClient, RestError, type ContainerClient,
} from '@azure/storage-blob';
import { ConfigError, type Config } from './config.ts';

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** One blob of a run folder, as a listing returns it. */
export interface ArchivedBlob {
  name: string;
  bytes: number;
  lastModified: Date;
  metadata: Record<string, string>;
}

/** A run's folder `runs/<reportId>/<runId>/` and the blobs in it. */
export interface RunFolder {
  reportId: string;
  runId: string;
  blobs: ArchivedBlob[];
}

export class Archive {
  private readonly container: ContainerClient;
  private ready?: Promise<unknown>;

  constructor(config: Pick<Config, 'BLOB_CONNECTION_STRING' | 'BLOB_CONTAINER'>) {
    if (!config.BLOB_CONNECTION_STRING) {
      throw new ConfigError(['BLOB_CONNECTION_STRING: is required (an Azure Storage or Azurite connection string)']);
    }
    const service = BlobServiceClient.fromConnectionString(config.BLOB_CONNECTION_STRING);
    this.container = service.getContainerClient(config.BLOB_CONTAINER);
  }

  /** Where a run's files go. */
  static blobName(reportId: string, runId: string, fileName: string): string {
    return `runs/${reportId}/${runId}/${fileName}`;
  }

  /** The folder of a run: every blob of the run starts with it. */
  static runFolder(reportId: string, runId: string): string {
    return `runs/${reportId}/${runId}/`;
  }

  /** Create the container on first use (idempotent). */
  private ensureContainer(): Promise<unknown> {
    this.ready ??= this.container.createIfNotExists().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /**
   * A round trip to the storage account for readiness: resolves when it answers for the container
   * (which may not exist yet: the first upload creates it), rejects when it is unreachable or refuses.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.container.exists({ abortSignal: signal });
  }

  /** Upload a local file; metadata values must be ASCII (Blob Storage rule), so callers pass ids. */
  async uploadFile(blobName: string, path: string, contentType: string, metadata: Record<string, string> = {}): Promise<void> {
    await this.ensureContainer();
    await this.container.getBlockBlobClient(blobName).uploadFile(path, {
      blobHTTPHeaders: { blobContentType: contentType },
      metadata,
    });
  }

  /** Upload a JSON document, replacing any blob of that name (so rewriting it is idempotent). */
  async uploadJson(blobName: string, value: unknown, metadata: Record<string, string> = {}): Promise<void> {
    await this.ensureContainer();
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    await this.container.getBlockBlobClient(blobName).upload(body, body.length, {
      blobHTTPHeaders: { blobContentType: 'application/json' },
      metadata,
    });
  }

  /** A JSON blob parsed, or undefined when there is no such blob. Invalid JSON throws. */
  async readJson(blobName: string): Promise<unknown> {
    try {
      const body = await this.container.getBlobClient(blobName).downloadToBuffer();
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The size of a blob in bytes, or undefined when there is no such blob. */
  async size(blobName: string): Promise<number | undefined> {
    try {
      return (await this.container.getBlobClient(blobName).getProperties()).contentLength;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Every run folder under `runs/`, one at a time with its blobs (sizes, dates, metadata). Blob
   * listings come in name order, so a folder's blobs arrive together and nothing is held in memory
   * beyond one folder.
   */
  async *runFolders(): AsyncGenerator<RunFolder> {
    await this.ensureContainer();
    let current: RunFolder | undefined;
    for await (const item of this.container.listBlobsFlat({ prefix: 'runs/', includeMetadata: true })) {
      const [, reportId, runId] = item.name.split('/');
      if (!reportId || !runId) continue;
      if (current && (current.reportId !== reportId || current.runId !== runId)) {
        yield current;
        current = undefined;
      }
      current ??= { reportId, runId, blobs: [] };
      current.blobs.push({
        name: item.name,
        bytes: item.properties.contentLength ?? 0,
        lastModified: item.properties.lastModified,
        metadata: item.metadata ?? {},
      });
    }
    if (current) yield current;
  }

  /** Delete every blob of a run's folder. Returns what went, so the caller can log it. */
  async deleteRun(reportId: string, runId: string): Promise<{ blobs: number; bytes: number }> {
    let blobs = 0;
    let bytes = 0;
    for await (const item of this.container.listBlobsFlat({ prefix: Archive.runFolder(reportId, runId) })) {
      const deleted = await this.container.getBlobClient(item.name).deleteIfExists();
      if (deleted.succeeded) {
        blobs++;
        bytes += item.properties.contentLength ?? 0;
      }
    }
    return { blobs, bytes };
  }

  /** Copy a blob to a local file. */
  async downloadToFile(blobName: string, path: string): Promise<void> {
    await this.container.getBlobClient(blobName).downloadToFile(path);
  }

  /** A read-only link valid for `minutes`, that makes browsers save the file as `fileName`. */
  async downloadUrl(blobName: string, minutes: number, fileName: string): Promise<string> {
    const blob = this.container.getBlobClient(blobName);
    return blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn: new Date(Date.now() + minutes * 60_000),
      contentDisposition: `attachment; filename="${fileName.replace(/["\\\r\n]/g, '_')}"`,
    });
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof RestError && err.statusCode === 404;
}
