/**
 * A terminal chat with the bot, for when the Agents Playground cannot serve: this process plays
 * Teams (a LocalConnector) and a person types. A fallback, not the main UI.
 *
 * Usage: tsx demo/chat.ts [botEndpoint]   (default http://127.0.0.1:3978/api/messages)
 *   any text          sent as a chat message
 *   /do <verb> k=v …  press the Action.Execute button with that verb on the latest card, with those
 *                     input values (the card's other inputs and the button's data are sent too)
 *   /help, /quit
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ValidationError } from '../core/errors.ts';
import { parseCommandArgs } from '../core/params.ts';
import { ADAPTIVE_CARD_CONTENT_TYPE, cardOf, cardText, executeData, LocalConnector, type ConnectorCall } from './connector.ts';

export const DEFAULT_BOT_ENDPOINT = 'http://127.0.0.1:3978/api/messages';

const HELP = [
  'Type a message and press Enter to send it to the bot.',
  '  /do <verb> key=value …   press the button with that verb on the latest card, inputs set to those values',
  "                           (the card's other input values and the button's data go too, as in Teams);",
  '                           quote values with spaces: /do report.submit param.note="two words"',
  '  /help                    this text',
  '  /quit                    leave',
].join('\n');

function indent(text: string, by = '  '): string {
  return text.split('\n').map((l) => `${by}${l}`).join('\n');
}

/** What a person should see for one call the bot made; undefined for noise (typing, members lookups). */
export function describeBotCall(call: ConnectorCall): string | undefined {
  if (call.status >= 400) return undefined;
  if (call.route === 'delete') return `bot deleted message ${call.activityId ?? ''}`.trimEnd();
  if (call.route !== 'send' && call.route !== 'reply' && call.route !== 'update') return undefined;
  const a = call.activity ?? {};
  if (a.type === 'typing') return undefined;
  const head = call.route === 'update' ? `bot (updated message ${call.activityId ?? '?'}):` : 'bot:';
  if (a.type !== 'message') return `${head} [${a.type ?? 'untyped'} activity]`;
  const parts: string[] = [];
  if (typeof a.text === 'string' && a.text.trim()) parts.push(indent(a.text));
  for (const att of Array.isArray(a.attachments) ? a.attachments : []) {
    if (att?.contentType === ADAPTIVE_CARD_CONTENT_TYPE) {
      parts.push(indent(`┌ card\n${indent(cardText(att.content), '│ ')}\n└`));
    } else {
      const where = att?.contentUrl ?? (att?.content && typeof att.content === 'object' ? JSON.stringify(att.content) : '');
      parts.push(indent(`[attachment ${att?.contentType ?? '?'}${att?.name ? ` "${att.name}"` : ''}${where ? ` ${where}` : ''}]`));
    }
  }
  if (!parts.length) parts.push(indent('(empty message)'));
  return `${head}\n${parts.join('\n')}`;
}

/** The bot's answer to a `/do` invoke, as a person reads it. */
export function describeInvokeResult(status: number, body: unknown): string {
  if (status < 200 || status >= 300) return `the bot answered the button with HTTP ${status}${body === undefined ? '' : `: ${JSON.stringify(body)}`}`;
  const b = (body ?? {}) as { statusCode?: unknown; type?: unknown; value?: unknown };
  const card = cardOf(body);
  if (card) return `card (replaces the one you pressed):\n${indent(`┌ card\n${indent(cardText(card), '│ ')}\n└`)}`;
  if (b.type === 'application/vnd.microsoft.activity.message') return `bot: ${String(b.value)}`;
  if (b.type === 'application/vnd.microsoft.error') return `the bot reported an error: ${JSON.stringify(b.value)}`;
  return `the bot answered ${JSON.stringify(body)}`;
}

/**
 * Run the chat until `/quit` or end of input. Streams are parameters so it can be driven without a
 * terminal; errors reaching the bot are printed, never thrown, so one bad moment does not end the session.
 */
export async function runChat(
  botEndpoint: string,
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<void> {
  const connector = await LocalConnector.start();
  const user = connector.user({ name: 'Alex Wilber' });
  const rl = createInterface({ input, output, prompt: 'you> ', terminal: output.isTTY === true && (input as { isTTY?: boolean }).isTTY === true });
  // The card a `/do` acts on: Teams sends the id of the message holding the pressed card as replyToId,
  // and the card's input values with the button's data.
  let lastCardId: string | undefined;
  let lastCard: Record<string, unknown> | undefined;

  const print = (text: string) => {
    if (rl.terminal) {
      // Bot messages can arrive while the person is typing: clear the prompt line, print, redraw it.
      output.write('\r\x1b[2K');
      output.write(`${text}\n`);
      rl.prompt(true);
    } else {
      output.write(`${text}\n`);
    }
  };

  connector.onCall((call) => {
    const card = cardOf(call.activity);
    if (card && call.status < 400 && (call.route === 'send' || call.route === 'reply' || call.route === 'update')) {
      lastCardId = call.activityId;
      lastCard = card;
    }
    const text = describeBotCall(call);
    if (text) print(text);
  });

  const reachError = (err: unknown) => `could not reach the bot at ${botEndpoint}: ${(err as Error).message}. Is it running?`;

  async function handle(line: string): Promise<boolean> {
    const text = line.trim();
    if (!text) return true;
    if (text === '/quit' || text === '/exit') return false;
    if (text === '/help') {
      print(HELP);
      return true;
    }
    if (text === '/do' || text.startsWith('/do ')) {
      const m = /^\/do\s+(\S+)\s*(.*)$/s.exec(text);
      if (!m) {
        print('usage: /do <verb> key=value …');
        return true;
      }
      let typed: Record<string, string>;
      try {
        typed = parseCommandArgs(m[2]);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        print(`not sent: ${err.message}`);
        return true;
      }
      // As if the button with that verb on the latest card was pressed; a verb the card lacks is sent bare.
      const data = executeData(lastCard, m[1], typed) ?? typed;
      print(`(pressing ${m[1]} with ${Object.entries(data).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') || 'no data'})`);
      try {
        const res = await user.invokeAction(botEndpoint, { verb: m[1], data }, lastCardId);
        // A returned card replaces the pressed one in place, so later buttons act on it.
        const card = cardOf(res.body);
        if (card) lastCard = card;
        print(describeInvokeResult(res.status, res.body));
      } catch (err) {
        print(reachError(err));
      }
      return true;
    }
    if (text.startsWith('/')) {
      print(`unknown command ${text.split(/\s/)[0]}; /help lists them (a message starting with "/" is not sent)`);
      return true;
    }
    try {
      const res = await user.say(botEndpoint, text);
      if (res.status >= 300) print(`the bot answered HTTP ${res.status}${res.body === undefined ? '' : `: ${JSON.stringify(res.body)}`}`);
    } catch (err) {
      print(reachError(err));
    }
    return true;
  }

  const prompt = () => {
    if (rl.terminal) rl.prompt();
  };

  output.write(`Playing Teams at ${connector.url} for the bot at ${botEndpoint}. /help for commands, /quit to leave.\n`);
  // Lines are handled one at a time, in order, even when pasted in a burst, and only after the
  // installation event; the listener is attached now because readline drops lines nobody listens for.
  let queue: Promise<boolean> = (async () => {
    try {
      const status = await user.conversationUpdate(botEndpoint);
      if (status >= 300) print(`the bot answered the installation event with HTTP ${status}`);
    } catch (err) {
      print(reachError(err));
    }
    prompt();
    return true;
  })();
  await new Promise<void>((resolve) => {
    rl.on('line', (line) => {
      queue = queue.then(async (open) => {
        if (!open) return false;
        const keepGoing = await handle(line).catch((err: unknown) => {
          print(`error: ${(err as Error).message}`);
          return true;
        });
        if (keepGoing) prompt();
        else rl.close();
        return keepGoing;
      });
    });
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => void queue.then(() => resolve()));
  });
  await connector.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runChat(process.argv[2] ?? DEFAULT_BOT_ENDPOINT).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
