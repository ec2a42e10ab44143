/**
 * The manifest's bot command menu comes from the same list as the help card (COMMANDS in
 * cards/render.ts), so the menu never offers a word the bot does not understand. manifest.json keeps
 * a written copy (the Toolkit packages that file as it is); `npm run package` and the manifest test
 * fail when the copy differs, and `npm run manifest:commands` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { COMMANDS } from '../cards/render.ts';
import { isMain } from '../core/lifecycle.ts';

/** Where the bot talks: the command menu is the same in each. */
export const BOT_SCOPES = ['personal', 'team', 'groupChat'] as const;

/**
 * Limits Teams documents for the command menu (stricter than the current schema's 128/4000, which
 * older clients and the store validation still apply) and the schema's 12 commands per list.
 */
export const COMMAND_LIMITS = { title: 32, description: 128, commands: 12 } as const;

export interface ManifestCommand {
  title: string;
  description: string;
}

export interface CommandList {
  scopes: string[];
  commands: ManifestCommand[];
}

/**
 * One menu entry per command word: the title is what Teams puts in the compose box (`run`, not the
 * whole syntax); the description is the syntax when the command takes arguments, else what it does.
 * Throws naming every entry over Teams' limits.
 */
export function manifestCommands(commands: readonly { usage: string; text: string }[] = COMMANDS): ManifestCommand[] {
  const out = new Map<string, ManifestCommand>();
  for (const { usage, text } of commands) {
    const title = usage.trim().split(/\s+/)[0];
    if (!out.has(title)) out.set(title, { title, description: title === usage.trim() ? text : usage.trim() });
  }
  const list = [...out.values()];
  const problems = list.flatMap(({ title, description }) => [
    ...(title.length > COMMAND_LIMITS.title ? [`title "${title}" is over ${COMMAND_LIMITS.title} characters`] : []),
    ...(description.length > COMMAND_LIMITS.description ? [`description of "${title}" is over ${COMMAND_LIMITS.description} characters`] : []),
  ]);
  if (list.length > COMMAND_LIMITS.commands) problems.push(`${list.length} commands, Teams shows at most ${COMMAND_LIMITS.commands}`);
  if (problems.length) throw new Error(`The bot's commands do not fit the Teams command menu: ${problems.join('; ')}`);
  return list;
}

/** The `bots[0].commandLists` the manifest must carry. */
export function commandLists(commands?: readonly { usage: string; text: string }[]): CommandList[] {
  return [{ scopes: [...BOT_SCOPES], commands: manifestCommands(commands) }];
}

/** The manifest template (teamsapp/manifest.json). */
export const MANIFEST_TEMPLATE = new URL('./manifest.json', import.meta.url);

if (isMain(import.meta.url)) {
  const manifest = JSON.parse(readFileSync(MANIFEST_TEMPLATE, 'utf8')) as { bots: { commandLists?: CommandList[] }[] };
  manifest.bots[0].commandLists = commandLists();
  writeFileSync(MANIFEST_TEMPLATE, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`updated ${MANIFEST_TEMPLATE.pathname}: ${manifest.bots[0].commandLists[0].commands.map((c) => c.title).join(', ')}`);
}
