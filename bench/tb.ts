/**
 * Trial Balance end to end on the full demo ledger (1M journal lines): generate it, serve it through
 * the Plex SOAP simulator, run the trial-balance pipeline for both PCNs over all 24 periods exactly as
 * the runner does (same catalog, connectors, engine and workbook writer), then print the total and
 * per-stage times, peak RSS, and whether every reconciliation check passed.
 *
 * Usage: tsx bench/tb.ts [journalLines=1000000] [startPeriod=202501] [endPeriod=202612]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadReport } from '../core/catalog.ts';
import { validateParams } from '../core/params.ts';
import { generateDemo } from '../demo/generator.ts';
import { startPlexSimulator } from '../demo/plex-simulator.ts';
import { Connections } from '../runner/connectors/registry.ts';
import { ReportWorkbook } from '../runner/excel/writer.ts';
import { runPipeline } from '../runner/pipeline/run.ts';

const lines = Number(process.argv[2] ?? 1_000_000);
const startPeriod = process.argv[3] ?? '202501';
const endPeriod = process.argv[4] ?? '202612';
const dir = mkdtempSync(join(tmpdir(), 'bench-tb-'));
let peakRss = 0;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);
try {
  const db = join(dir, 'warehouse.sqlite');
  const gen = generateDemo(db, { journalLines: lines });
  console.log(`ledger: ${gen.journalLines.toLocaleString('en-US')} journal lines, ${gen.journals.toLocaleString('en-US')} journals, generated in ${(gen.ms / 1000).toFixed(1)} s`);
  const plex = await startPlexSimulator({ dbPath: db });
  const u = new URL(plex.url);
  const connections = new Connections({ warehouse: `sqlite:${db}`, plex: `plex://DemoWS_All:demo-all-pw@${u.host}${u.pathname}` });
  const report = await loadReport('reports/trial-balance', connections.names());
  const params = validateParams(report.id, report.parameters, { pcn: '900101,900202', startPeriod, endPeriod }, report.rules,
    { choices: { pcn: [{ value: '900101' }, { value: '900202' }] } });
  const path = join(dir, 'tb.xlsx');
  const workbook = new ReportWorkbook({ path });
  peakRss = 0;
  const t0 = performance.now();
  const result = await runPipeline(report, params, { connections, workbook, signal: new AbortController().signal, log: pino({ level: 'warn' }) });
  await workbook.close();
  const total = performance.now() - t0;
  console.log(`trial-balance pcn=900101,900202 ${startPeriod}–${endPeriod}: ${(total / 1000).toFixed(1)} s total, ${result.rows.toLocaleString('en-US')} rows exported, workbook ${(statSync(path).size / 1e6).toFixed(1)} MB, peak RSS ${(peakRss / 1e6).toFixed(0)} MB`);
  console.log('stage                                              rows        time');
  for (const s of result.steps) console.log(`  ${s.name.padEnd(48)} ${String(s.rows).padStart(9)}  ${(s.ms / 1000).toFixed(2).padStart(7)} s`);
  console.log(`checks: ${result.checks.map((c) => `${c.name}: ${c.passed ? 'passed' : `FAILED (${c.violations})`}`).join('; ')}`);
  await connections.close();
  await plex.close();
} finally {
  clearInterval(sampler);
  rmSync(dir, { recursive: true, force: true });
}
