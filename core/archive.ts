/**
 * The report archive in Azure Blob Storage (Azurite locally): one folder per run,
 * `runs/<reportId>/<runId>/<file>`. Download links are short-lived, read-only SAS URLs.
 */
import {
  BlobSASPermissions, BlobServiceClient, type ContainerClient,
} from '@azure/storage-blob';
import { ConfigError, type Config } from './config.ts';

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

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
