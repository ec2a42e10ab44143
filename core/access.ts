/** Who may run a report: its definition's `access.allow` list against the requester. */
import type { ReportDefinition } from './catalog.ts';
import type { Requester } from './job.ts';

/**
 * True when `who` matches an entry of `report.access.allow`: `*` (everyone), an exact UPN or email
 * (case-insensitive), `@domain.com` (everyone with that UPN domain), or an Entra object id.
 */
export function mayRun(report: Pick<ReportDefinition, 'access'>, who: Requester): boolean {
  const upn = who.upn.toLowerCase();
  return report.access.allow.some((entry) => {
    const e = entry.toLowerCase();
    if (e === '*') return true;
    if (e.startsWith('@')) return upn !== '' && upn.endsWith(e);
    return e === upn || e === who.aadObjectId.toLowerCase();
  });
}
