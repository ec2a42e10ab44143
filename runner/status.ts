/**
 * Keeps a run's live status card current while a runner works on it. State changes (queued →
 * waiting for the lock → running → sending → done / failed / cancelled) go out as soon as the
 * previous update is through; a new step (or forEach value) at most once a second; the elapsed time
 * and row count at most every STATUS_UPDATE_MS. Updates are coalesced (only the latest state is ever sent), one at a
 * time per run, and a failed update is logged and never fails the run. Every change is also saved
 * in the run's Redis hash, where the bot reads it for a card refresh or the `status` command.
 */
import type { Redis } from 'ioredis';
import { runInfoOf, statusCard, type AdaptiveCard, type RunInfo } from '../cards/render.ts';
import type { Report } from '../core/catalog.ts';
import type { ReportJob } from '../core/job.ts';
import type { Logger } from '../core/logger.ts';
import type { ParamValues } from '../core/params.ts';
import { isFinal, saveStatus, type RunStatus } from '../core/status.ts';

/** What the reporter needs from the Teams side: replacing a card the bot sent earlier. */
export interface CardUpdater {
  updateCard?(job: ReportJob, activityId: string, card: AdaptiveCard): Promise<void>;
}

export interface StatusReporterOptions {
  notifier: CardUpdater;
  redis: Redis;
  prefix: string;
  log: Logger;
  /** Elapsed-time refresh interval (STATUS_UPDATE_MS). */
  updateMs: number;
  /** Least time between two updates for a new step. */
  stepGapMs?: number;
  /** How long close() waits for the last update before leaving it to finish on its own. */
  closeWaitMs?: number;
}

/** States usually over in a moment: shown only if they last longer than a step gap. */
const TRANSIENT = new Set<RunStatus['state']>(['starting', 'delivering']);

export class StatusReporter {
  /** Card updates sent (for logs and benchmarks). */
  updates = 0;
  private readonly opts: Required<StatusReporterOptions>;
  private readonly job: ReportJob;
  private readonly report: Pick<Report, 'id' | 'title' | 'parameters'>;
  private readonly info: RunInfo;
  private readonly activityId: string | undefined;
  private current: RunStatus | undefined;
  private shown: string | undefined;
  private lastSentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private sending: Promise<void> | undefined;
  private closed = false;

  constructor(opts: StatusReporterOptions, job: ReportJob, report: Pick<Report, 'id' | 'title' | 'parameters' | 'private'>, params: ParamValues) {
    this.opts = { stepGapMs: 1000, closeWaitMs: 15_000, ...opts };
    this.job = job;
    this.report = report;
    this.info = runInfoOf(job, report, params);
    this.activityId = job.conversation && opts.notifier.updateCard ? job.statusActivityId : undefined;
  }

  /** The run is now in `status`. Never throws. */
  set(status: RunStatus): void {
    if (this.closed) return;
    const before = this.current;
    this.current = status;
    const kindChanged = before?.state !== status.state;
    // A new step, or the next value of a step's forEach ("… (202503)"), is progress worth showing soon.
    const stepChanged = !kindChanged && status.state === 'running' && before?.state === 'running'
      && (before.step !== status.step || before.name !== status.name);
    if (kindChanged || stepChanged) {
      saveStatus(this.opts.redis, this.opts.prefix, this.job.runId, status)
        .catch((err: unknown) => this.opts.log.debug({ err }, 'could not save the run status'));
    }
    if (!this.activityId) return;
    if (kindChanged && TRANSIENT.has(status.state)) this.scheduleAt(Date.now() + this.opts.stepGapMs);
    else this.schedule(kindChanged ? 0 : stepChanged ? this.opts.stepGapMs : this.opts.updateMs);
  }

  /**
   * Show the current state now (the outcome before the result message that follows it); waits a
   * bounded time, and keeps ticking afterwards if the run is still going.
   */
  async settle(): Promise<void> {
    if (this.closed || !this.activityId) return;
    this.clearTimer();
    await this.bounded((async () => {
      await this.sending;
      if (this.current && this.render(this.current).key !== this.shown) await this.send();
    })());
    const s = this.current;
    if (!this.closed && s && !isFinal(s)) this.schedule(this.opts.updateMs);
  }

  /** Stop ticking and send the last state if it has not been shown; waits a bounded time. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    if (!this.activityId) return;
    await this.bounded((async () => {
      await this.sending;
      if (this.current && this.render(this.current).key !== this.shown) await this.send();
    })());
  }

  private async bounded(work: Promise<void>): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((resolve) => { timeout = setTimeout(resolve, this.opts.closeWaitMs); timeout.unref(); })]);
    clearTimeout(timeout);
  }

  /** Send no earlier than `gapMs` after the previous update (keeping an earlier plan). */
  private schedule(gapMs: number): void {
    this.scheduleAt(Math.max(Date.now(), this.lastSentAt + gapMs));
  }

  private scheduleAt(due: number): void {
    if (due >= this.dueAt) return;
    this.clearTimer();
    this.dueAt = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      void this.flush();
    }, due - Date.now());
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = Infinity;
  }

  private async flush(): Promise<void> {
    if (this.sending) {
      // One update at a time: the newest state goes out when this one is through.
      await this.sending;
      if (!this.closed) this.schedule(0);
      return;
    }
    await this.send();
    const s = this.current;
    // While it runs, the elapsed time moves on even when nothing else does.
    if (!this.closed && s && !isFinal(s) && s.state !== 'queued' && s.state !== 'retrying') this.schedule(this.opts.updateMs);
  }

  private render(status: RunStatus, now = Date.now()): { card: AdaptiveCard; key: string } {
    const card = statusCard(this.report, this.info, status, now);
    return { card, key: JSON.stringify(card) };
  }

  private send(): Promise<void> {
    const status = this.current;
    if (!status || !this.activityId) return Promise.resolve();
    const { card, key } = this.render(status);
    if (key === this.shown) return Promise.resolve();
    const activityId = this.activityId;
    this.lastSentAt = Date.now();
    this.sending = (async () => {
      try {
        await this.opts.notifier.updateCard!(this.job, activityId, card);
        this.shown = key;
        this.updates++;
      } catch (err) {
        this.opts.log.warn({ err: { message: (err as Error).message }, state: status.state }, 'could not update the status card');
      } finally {
        this.sending = undefined;
      }
    })();
    return this.sending;
  }
}
