/**
 * The Teams app package: the manifest against the official schema shipped in @microsoft/app-manifest,
 * its command menu against the bot's commands, the icons' pixels, and the zip `npm run package`
 * writes, read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { COMMANDS } from '../cards/render.ts';
import { commandLists, COMMAND_LIMITS, MANIFEST_TEMPLATE, manifestCommands } from './commands.ts';
import { outlineIcon } from './icons.ts';
import {
  buildAppPackage, checkIcons, fillPlaceholders, placeholdersIn, readEnvFile, REPO_ROOT, shippedSchemaVersions, validateManifest,
} from './package.ts';
import { decodePng, encodePng, pngSize, type RgbaImage } from './png.ts';

const run = promisify(execFile);
const templateText = readFileSync(MANIFEST_TEMPLATE, 'utf8');
const template = JSON.parse(templateText) as Record<string, unknown>;
const teamsappDir = new URL('.', MANIFEST_TEMPLATE).pathname;

function sampleVars() {
  return { TEAMS_APP_ID: randomUUID(), BOT_ID: randomUUID(), BOT_DOMAIN: 'reportbot.example.com' };
}

function filled(vars: Record<string, string> = sampleVars()): Record<string, unknown> {
  return JSON.parse(fillPlaceholders(templateText, vars)) as Record<string, unknown>;
}

/** A temporary folder with the manifest template and the given icons (default: the real ones). */
function appDir(icons: { color?: RgbaImage; outline?: RgbaImage } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'teamsapp-test-'));
  writeFileSync(join(dir, 'manifest.json'), templateText);
  for (const name of ['color', 'outline'] as const) {
    const image = icons[name];
    if (image) writeFileSync(join(dir, `${name}.png`), encodePng(image));
    else copyFileSync(join(teamsappDir, `${name}.png`), join(dir, `${name}.png`));
  }
  return dir;
}

function solid(size: number, rgba: [number, number, number, number]): RgbaImage {
  const data = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) data.set(rgba, i * 4);
  return { width: size, height: size, data };
}

test('the manifest is on the newest non-preview schema @microsoft/app-manifest ships', () => {
  const newest = shippedSchemaVersions().at(-1);
  assert.equal(template.manifestVersion, newest, `bump manifestVersion and $schema to ${newest}`);
  assert.equal(template.$schema, `https://developer.microsoft.com/en-us/json-schemas/teams/v${newest}/MicrosoftTeams.schema.json`);
});

test('the template takes exactly the Teams Toolkit placeholders the env files provide', () => {
  assert.deepEqual(placeholdersIn(templateText).sort(), ['BOT_DOMAIN', 'BOT_ID', 'TEAMS_APP_ID']);
  const bot = (template.bots as Record<string, unknown>[])[0];
  assert.equal(bot.botId, '${{BOT_ID}}');
  assert.deepEqual(bot.scopes, ['personal', 'team', 'groupChat']);
  assert.equal(bot.supportsFiles, false, 'results are delivered as links, not through the file consent flow');
  assert.deepEqual(template.webApplicationInfo, { id: '${{BOT_ID}}', resource: 'api://botid-${{BOT_ID}}' });
  assert.ok((template.validDomains as string[]).includes('${{BOT_DOMAIN}}'));
});

test('the command menu is the bot\'s COMMANDS, within Teams\' limits', () => {
  const bot = (template.bots as { commandLists: unknown }[])[0];
  assert.deepEqual(bot.commandLists, commandLists(), 'manifest.json is out of date: run `npm run manifest:commands`');
  const titles = manifestCommands().map((c) => c.title);
  assert.deepEqual(titles, [...new Set(COMMANDS.map((c) => c.usage.split(' ')[0]))]);
  for (const c of manifestCommands()) {
    assert.ok(c.title.length <= COMMAND_LIMITS.title && c.description.length > 0 && c.description.length <= COMMAND_LIMITS.description, c.title);
  }
  assert.throws(() => manifestCommands([{ usage: 'x'.repeat(33), text: 'too long' }]), /title "x+" is over 32 characters/);
  assert.throws(() => manifestCommands([{ usage: 'go', text: 'y'.repeat(129) }]), /description of "go" is over 128 characters/);
  assert.throws(() => manifestCommands(Array.from({ length: 13 }, (_, i) => ({ usage: `c${i}`, text: 't' }))), /13 commands, Teams shows at most 12/);
});

test('the filled manifest validates against the official schema', async () => {
  assert.deepEqual(await validateManifest(filled(), template), []);
});

test('the schema catches what it should, naming the variable a bad value came from', async () => {
  const bad = await validateManifest(filled({ ...sampleVars(), TEAMS_APP_ID: 'not-a-guid' }), template);
  assert.equal(bad.length, 1, bad.join('\n'));
  assert.match(bad[0], /^\/id must match pattern .* \(from TEAMS_APP_ID\)$/);

  const host = await validateManifest(filled({ ...sampleVars(), BOT_DOMAIN: 'https://reportbot.example.com/api' }), template);
  assert.deepEqual(host, ['validDomains: "https://reportbot.example.com/api" is not a host name (no scheme or path, e.g. reportbot.example.com) (from BOT_DOMAIN)']);

  // One manifest with several faults: the schema's and the project's own rules report all of them.
  const m = filled();
  (m.name as Record<string, string>).short = 'A name far longer than thirty characters';
  delete m.accentColor;
  (m.bots as { commandLists: { commands: unknown[] }[] }[])[0].commandLists[0].commands.pop();
  const errors = (await validateManifest(m)).join('\n');
  assert.match(errors, /^\/name\/short must NOT have more than 30 characters$/m);
  assert.match(errors, /must have required property 'accentColor'/);
  assert.match(errors, /commandLists differs from the bot's commands .*npm run manifest:commands/);

  await assert.rejects(validateManifest({ ...filled(), manifestVersion: '9.9' }), /manifestVersion "9.9" has no schema in @microsoft\/app-manifest/);
});

test('placeholders: every missing variable is named; values are JSON-escaped', () => {
  assert.throws(() => fillPlaceholders(templateText, { BOT_ID: randomUUID(), BOT_DOMAIN: ' ' }), /needs BOT_DOMAIN, TEAMS_APP_ID|needs TEAMS_APP_ID, BOT_DOMAIN/);
  const json = fillPlaceholders('{"a": "${{ X }}"}', { X: 'say "hi"\\' });
  assert.deepEqual(JSON.parse(json), { a: 'say "hi"\\' });
});

test('env files: NAME=value, comments, quotes, export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamsapp-env-'));
  try {
    const file = join(dir, '.env.x');
    writeFileSync(file, '# a comment\nTEAMS_APP_ID=abc\nexport BOT_DOMAIN = "bot.example.com"\nNOTE=\'has # hash\'\nTRAIL=v # comment\n\n');
    assert.deepEqual(readEnvFile(file), { TEAMS_APP_ID: 'abc', BOT_DOMAIN: 'bot.example.com', NOTE: 'has # hash', TRAIL: 'v' });
    assert.deepEqual(readEnvFile(join(dir, 'missing')), {});
    writeFileSync(file, 'just words\n');
    assert.throws(() => readEnvFile(file), /\.env\.x:1: expected NAME=value/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the committed icons: color 192×192, outline 32×32 white on transparency', () => {
  assert.deepEqual(checkIcons(filled(), teamsappDir), []);
  assert.deepEqual(pngSize(readFileSync(join(teamsappDir, 'color.png'))), { width: 192, height: 192 });
  const outline = decodePng(readFileSync(join(teamsappDir, 'outline.png')));
  assert.deepEqual(outline.data, outlineIcon().data, 'outline.png is what teamsapp/icons.ts draws');
});

test('icon checks reject a wrong size, an opaque outline and a coloured outline', () => {
  const cases: [Parameters<typeof appDir>[0], RegExp][] = [
    [{ color: solid(96, [30, 110, 90, 255]) }, /icons\.color \(color\.png\) is 96×96, Teams wants 192×192/],
    [{ outline: solid(32, [255, 255, 255, 255]) }, /icons\.outline \(outline\.png\) needs a transparent background \(only 0 of 1024/],
    [{ outline: { ...outlineIcon(), data: outlineIcon().data.map((v, i) => (i % 4 === 0 ? 0 : v)) } }, /icons\.outline \(outline\.png\) must be white: \d+ visible pixels are not, the first at \(\d+, \d+\)/],
  ];
  for (const [icons, expected] of cases) {
    const dir = appDir(icons);
    try {
      assert.match(checkIcons(filled(), dir).join('\n'), expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.match(checkIcons({ icons: { color: 'nothing.png', outline: '../outline.png' } }, teamsappDir).join('\n'),
    /icons\.color \(nothing\.png\): file not found\n.*icons\.outline \(\.\.\/outline\.png\): icon path "\.\.\/outline\.png" must stay inside/);
});

test('buildAppPackage: env file, then .user, then the environment; the zip holds manifest and icons at its root', async () => {
  const root = mkdtempSync(join(tmpdir(), 'teamsapp-pkg-'));
  try {
    const vars = sampleVars();
    const botFromEnv = randomUUID();
    mkdirSync(join(root, 'env'));
    writeFileSync(join(root, 'env', '.env.test'), `TEAMS_APP_ID=${vars.TEAMS_APP_ID}\nBOT_ID=${randomUUID()}\nBOT_DOMAIN=wrong.example.com\n`);
    writeFileSync(join(root, 'env', '.env.test.user'), `BOT_DOMAIN=${vars.BOT_DOMAIN}\n`);
    const pkg = await buildAppPackage({ envName: 'test', root, outDir: root, processEnv: { BOT_ID: botFromEnv } });
    assert.equal(pkg.path, join(root, 'appPackage.test.zip'));
    assert.deepEqual(pkg.files.sort(), ['color.png', 'manifest.json', 'outline.png']);

    const zip = await JSZip.loadAsync(readFileSync(pkg.path));
    assert.deepEqual(Object.keys(zip.files).sort(), ['color.png', 'manifest.json', 'outline.png']);
    const manifest = JSON.parse(await zip.file('manifest.json')!.async('string')) as Record<string, unknown>;
    assert.doesNotMatch(JSON.stringify(manifest), /\$\{\{/);
    assert.equal(manifest.id, vars.TEAMS_APP_ID);
    assert.equal((manifest.bots as { botId: string }[])[0].botId, botFromEnv, 'the environment overrides the env files');
    assert.deepEqual(manifest.webApplicationInfo, { id: botFromEnv, resource: `api://botid-${botFromEnv}` });
    assert.deepEqual(manifest.validDomains, ['reportbot.example.com', 'token.botframework.com'], '.user overrides the env file');
    assert.deepEqual(await validateManifest(manifest), []);
    for (const icon of ['color.png', 'outline.png']) {
      assert.deepEqual(await zip.file(icon)!.async('nodebuffer'), readFileSync(join(teamsappDir, icon)));
    }

    await assert.rejects(buildAppPackage({ envName: 'test', root, outDir: root, processEnv: { TEAMS_APP_ID: 'x' } }), /\/id must match pattern .*\(from TEAMS_APP_ID\)/);
    await assert.rejects(buildAppPackage({ envName: '../x', root, outDir: root }), /environment name "\.\.\/x" may use letters/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('npm run package: writes teamsapp/build/appPackage.<env>.zip, or exits 1 naming what is missing', async () => {
  const envName = `test-${randomUUID().slice(0, 8)}`;
  const script = join(REPO_ROOT, 'teamsapp', 'package.ts');
  const zipPath = join(REPO_ROOT, 'teamsapp', 'build', `appPackage.${envName}.zip`);
  const clean = { PATH: process.env.PATH ?? '' };
  try {
    const ok = await run(process.execPath, ['--import', 'tsx', script, '--env', envName], { cwd: REPO_ROOT, env: { ...clean, ...sampleVars() } });
    assert.match(ok.stdout, new RegExp(`wrote teamsapp/build/appPackage\\.${envName}\\.zip: app [0-9a-f-]{36}, bot [0-9a-f-]{36}, files manifest\\.json, color\\.png, outline\\.png`));
    assert.ok((await JSZip.loadAsync(readFileSync(zipPath))).file('manifest.json'));

    const failed = await run(process.execPath, ['--import', 'tsx', script, `--env=${envName}`], { cwd: REPO_ROOT, env: { ...clean, BOT_ID: randomUUID() } })
      .then(() => assert.fail('expected exit code 1'), (err: { code: number; stderr: string }) => err);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, new RegExp(`teamsapp/manifest\\.json needs TEAMS_APP_ID, BOT_DOMAIN: set them in env/\\.env\\.${envName} \\(or env/\\.env\\.${envName}\\.user\\) or the environment`));
  } finally {
    rmSync(zipPath, { force: true });
  }
});
