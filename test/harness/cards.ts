/** Reading the bot's cards the way a person would: headline, facts, actions. */
import ExcelJS from 'exceljs';
import { cardOf, type ConnectorCall } from '../../demo/connector.ts';

type Card = { body?: Element[]; actions?: Action[] };
type Element = { type?: string; text?: string; facts?: { title: string; value: string }[]; items?: Element[]; columns?: Element[]; id?: string };
export type Action = { type: string; title?: string; verb?: string; url?: string; data?: Record<string, unknown> };

/** The first TextBlock's text of a card, e.g. "Queued: Chart of accounts". */
export function headline(card: unknown): string {
  return String((card as Card | undefined)?.body?.find((e) => e.type === 'TextBlock')?.text ?? '');
}

/** The card of a recorded bot→channel call. */
export function callCard(call: ConnectorCall): Card | undefined {
  return cardOf(call.activity) as Card | undefined;
}

/** A call whose card headline starts with `prefix`. */
export const cardStarting = (prefix: string) => (call: ConnectorCall) => headline(callCard(call)).startsWith(prefix);

/** The value of a fact titled `title`, anywhere in the card. */
export function fact(card: unknown, title: string): string | undefined {
  const walk = (elements: Element[] = []): string | undefined => {
    for (const e of elements) {
      const hit = e.facts?.find((f) => f.title === title)?.value ?? walk(e.items) ?? walk(e.columns);
      if (hit !== undefined) return hit;
    }
    return undefined;
  };
  return walk((card as Card | undefined)?.body);
}

export function action(card: unknown, title: string): Action | undefined {
  return (card as Card | undefined)?.actions?.find((a) => a.title === title);
}

/** All texts of a card (TextBlocks, nested), for "says X" assertions. */
export function texts(card: unknown): string {
  const out: string[] = [];
  const walk = (elements: Element[] = []) => elements.forEach((e) => {
    if (e.text) out.push(e.text);
    walk(e.items);
    walk(e.columns);
  });
  walk((card as Card | undefined)?.body);
  return out.join('\n');
}

/** Download a workbook through a URL and read every sheet's rows back (header first). */
export async function downloadWorkbook(url: string): Promise<{ response: Response; sheets: Map<string, unknown[][]> }> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`download failed: ${response.status}`);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(await response.arrayBuffer()) as unknown as ArrayBuffer);
  const sheets = new Map<string, unknown[][]>();
  wb.eachSheet((ws) => {
    const rows: unknown[][] = [];
    ws.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
    sheets.set(ws.name, rows);
  });
  return { response, sheets };
}
