/**
 * The few named errors the bot and the runner throw on purpose. Each carries a stable `code`;
 * `userMessage()` turns any error into words a finance user can act on (never a stack trace).
 */

/** A request that does not match the report's definition. Never retried. */
export class ValidationError extends Error {
  readonly code = 'VALIDATION';
  /** Per-field messages, keyed by parameter name ('' for the request as a whole). */
  readonly fields: Record<string, string>;
  constructor(message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = 'ValidationError';
    this.fields = fields;
  }
}

/** A broken report definition (bad YAML, missing SQL file, unknown parameter). Never retried. */
export class DefinitionError extends Error {
  readonly code = 'DEFINITION';
  readonly file: string;
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.name = 'DefinitionError';
    this.file = file;
  }
}

/** A data source failed: connection refused, SQL error, timeout. */
export class ConnectorError extends Error {
  readonly code = 'CONNECTOR';
  readonly connection: string;
  constructor(connection: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConnectorError';
    this.connection = connection;
  }
}

/** The report's mutex could not be kept: another runner may now hold it, so the run stops. */
export class LockLostError extends Error {
  readonly code = 'LOCK_LOST';
  constructor(resources: readonly string[], options?: ErrorOptions) {
    super(`lost the lock on ${resources.join(', ')}`, options);
    this.name = 'LockLostError';
  }
}

/** The mutex was not free within the wait limit. */
export class LockTimeoutError extends Error {
  readonly code = 'LOCK_TIMEOUT';
  constructor(resources: readonly string[], waitedMs: number) {
    super(`${resources.join(', ')} still busy after ${Math.round(waitedMs / 1000)} s`);
    this.name = 'LockTimeoutError';
  }
}

/**
 * Sending the result to the requester failed. `permanent`: trying again will not help (no permission,
 * no such mailbox or drive); otherwise a later attempt may succeed (throttling, outage, network).
 */
export class DeliveryError extends Error {
  readonly code = 'DELIVERY';
  readonly channel: string;
  readonly permanent: boolean;
  constructor(channel: string, message: string, options?: ErrorOptions & { permanent?: boolean }) {
    super(message, options);
    this.name = 'DeliveryError';
    this.channel = channel;
    this.permanent = options?.permanent ?? false;
  }
}

/**
 * The abort reason when a runner shuts down past its grace period. A run stopped for this reason is
 * handed back to the queue for another runner: it is neither a failure nor a cancel, and the
 * requester is never told about it.
 */
export class ShutdownError extends Error {
  readonly code = 'SHUTDOWN';
  constructor(message = 'the runner is shutting down; the run goes back to the queue') {
    super(message);
    this.name = 'ShutdownError';
  }
}

/** A pipeline step failed; `step` names it for the error card. */
export class StepError extends Error {
  readonly code = 'STEP';
  readonly step: string;
  constructor(step: string, options: ErrorOptions & { cause: unknown }) {
    super(`step "${step}" failed: ${errorText(options.cause)}`, options);
    this.name = 'StepError';
    this.step = step;
  }
}

/** Errors that a retry cannot fix: the job fails at once instead of backing off. */
export function isPermanent(err: unknown): boolean {
  return err instanceof ValidationError || err instanceof DefinitionError ||
    (err instanceof StepError && isPermanent(err.cause));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A short, plain sentence about what went wrong, for a card shown to the requester. */
export function userMessage(err: unknown): string {
  const e = err instanceof StepError ? err.cause : err;
  if (e instanceof ValidationError) return e.message;
  if (e instanceof DefinitionError) return 'The report definition is broken; an administrator has to fix it.';
  if (e instanceof ConnectorError) return `The data source "${e.connection}" did not answer as expected.`;
  if (e instanceof LockLostError) return 'The run was stopped because it lost its exclusive lock; it is safe to run it again.';
  if (e instanceof LockTimeoutError) return 'Another run of a report that uses the same data took too long; try again later.';
  if (e instanceof DeliveryError) return 'The report was built but could not be delivered.';
  if (e instanceof Error && e.name === 'AbortError') return 'The run was cancelled or timed out.';
  return 'Something unexpected went wrong while running the report.';
}
