/**
 * `npm run package [-- --env <name>]`: the Teams app package, teamsapp/build/appPackage.<name>.zip.
 *
 * 1. Fill the `${{NAME}}` placeholders of teamsapp/manifest.json (the Teams Toolkit syntax, so the
 *    Toolkit's teamsApp/zipAppPackage reads the same file) from env/.env.<name>, then
 *    env/.env.<name>.user, then the process environment (the environment wins, so CI can override).
 *    A placeholder with no value stops the build naming every missing variable.
 * 2. Validate against the official schema of its manifestVersion, shipped offline in
 *    @microsoft/app-manifest and checked with that package's validator (ajv with the schema's own
 *    draft, ajv-formats), plus what the schema cannot say: command menu = the bot's commands,
 *    validDomains are host names.
 * 3. Check the icons: sizes, and an outline that is white on transparency.
 * 4. Zip manifest.json and the icons (paths as the manifest names them) with jszip.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppManifestUtils } from '@microsoft/app-manifest';
import JSZip from 'jszip';
import { isMain } from '../core/lifecycle.ts';
import { commandLists, MANIFEST_TEMPLATE } from './commands.ts';
import { decodePng } from './png.ts';

/** `${{NAME}}`, as Teams Toolkit writes placeholders in manifests and teamsapp.yml. */
const PLACEHOLDER = /\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The repository root (teamsapp/..): env/ lives there. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Icon rules of the Teams manifest: color 192×192, outline 32×32 (and the optional color32x32). */
const ICON_SIZES: Record<string, number> = { color: 192, outline: 32, color32x32: 32 };

/** An outline pixel at least this opaque must be white: fainter ones are anti-aliasing. */
const OUTLINE_ALPHA_FLOOR = 64;
/** The least each channel of a "white" pixel may have. */
const OUTLINE_WHITE_FLOOR = 240;
/** A transparent background means a good share of fully transparent pixels. */
const OUTLINE_MIN_TRANSPARENT_SHARE = 0.1;

type Json = Record<string, unknown>;

/** The variable names a template uses, in order of first appearance. */
export function placeholdersIn(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/**
 * Read a Toolkit env file: `NAME=value` lines, `#` comments, optional `export `, values optionally in
 * single or double quotes. Returns {} when the file does not exist.
 */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const out: Record<string, string> = {};
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!m) throw new Error(`${path}:${i + 1}: expected NAME=value, got "${trimmed.slice(0, 40)}"`);
    const value = m[2].trim();
    const quoted = /^(['"])(.*)\1$/.exec(value);
    out[m[1]] = quoted ? quoted[2] : value.replace(/\s+#.*$/, '');
  });
  return out;
}

/** The env files of `envName` under `root`, in the order they are applied. */
export function envFiles(envName: string, root = REPO_ROOT): string[] {
  return [join(root, 'env', `.env.${envName}`), join(root, 'env', `.env.${envName}.user`)];
}

/** Variables for `envName`: its env files, overridden by `processEnv`. */
export function loadVariables(envName: string, processEnv: Record<string, string | undefined>, root = REPO_ROOT): Record<string, string | undefined> {
  const fromFiles = Object.assign({}, ...envFiles(envName, root).map(readEnvFile)) as Record<string, string>;
  return { ...fromFiles, ...processEnv };
}

/** Replace every placeholder (values JSON-escaped: the template is JSON); throws naming all missing ones. */
export function fillPlaceholders(
  template: string, vars: Record<string, string | undefined>, where = { file: 'the manifest', sources: 'the env file or the environment' },
): string {
  const missing = placeholdersIn(template).filter((name) => vars[name] === undefined || vars[name]!.trim() === '');
  if (missing.length) {
    throw new Error(`${where.file} needs ${missing.join(', ')}: set ${missing.length > 1 ? 'them' : 'it'} in ${where.sources}`);
  }
  return template.replace(PLACEHOLDER, (_, name: string) => JSON.stringify(vars[name]!.trim()).slice(1, -1));
}

function appManifestDir(): string {
  return dirname(createRequire(import.meta.url).resolve('@microsoft/app-manifest/package.json'));
}

/** Teams manifest schema versions shipped in @microsoft/app-manifest, newest last (devPreview left out). */
export function shippedSchemaVersions(): string[] {
  const dir = join(appManifestDir(), 'build', 'json-schemas', 'teams');
  const versions = readdirSync(dir).filter((d) => /^v\d+\.\d+$/.test(d)).map((d) => d.slice(1));
  const key = (v: string) => v.split('.').map(Number);
  return versions.sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

/** The official JSON schema of a manifest version, from the package (no network). */
export function manifestSchema(version: string): Json {
  const path = join(appManifestDir(), 'build', 'json-schemas', 'teams', `v${version}`, 'MicrosoftTeams.schema.json');
  if (!/^\d+\.\d+$/.test(version) || !existsSync(path)) {
    throw new Error(`manifestVersion "${version}" has no schema in @microsoft/app-manifest (it ships ${shippedSchemaVersions().join(', ')})`);
  }
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/** The value at a JSON pointer (`/bots/0/botId`) of `doc`, or undefined. */
function atPointer(doc: unknown, pointer: string): unknown {
  if (!pointer) return doc;
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

/**
 * Schema errors and the project's own rules for a filled manifest; [] when it is good. With the
 * template, an error at a field filled from a placeholder names the variable it came from.
 */
export async function validateManifest(manifest: Json, template?: Json): Promise<string[]> {
  const version = String(manifest.manifestVersion ?? '');
  const schema = manifestSchema(version);
  const schemaErrors = await AppManifestUtils.validateAgainstSchema(manifest as never, schema as never);
  const problems = schemaErrors.map((e) => {
    const path = e.slice(0, e.indexOf(' '));
    const source = atPointer(template, path);
    const names = typeof source === 'string' ? placeholdersIn(source) : [];
    const detail = e.replace(/\. Details: .*$/, '');
    return names.length ? `${detail} (from ${names.join(', ')})` : detail;
  });

  const expectedSchemaUrl = `https://developer.microsoft.com/en-us/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`;
  if (manifest.$schema !== expectedSchemaUrl) problems.push(`$schema should be ${expectedSchemaUrl} to match manifestVersion ${version}`);

  const bots = (manifest.bots ?? []) as Json[];
  if (bots.length !== 1) problems.push('the manifest should declare exactly one bot');
  else if (JSON.stringify(bots[0].commandLists) !== JSON.stringify(commandLists())) {
    problems.push('bots[0].commandLists differs from the bot\'s commands (COMMANDS in cards/render.ts): run `npm run manifest:commands`');
  }
  for (const domain of (manifest.validDomains ?? []) as string[]) {
    if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d+)?$/.test(domain)) {
      const names = ((template?.validDomains ?? []) as string[]).flatMap(placeholdersIn);
      problems.push(`validDomains: "${domain}" is not a host name (no scheme or path, e.g. reportbot.example.com)${names.length ? ` (from ${names.join(', ')})` : ''}`);
    }
  }
  return problems;
}

/** Resolve an icon path of the manifest inside `dir`; refuses absolute paths and `..`. */
function iconPath(dir: string, relativePath: string): string {
  const full = resolve(dir, normalize(relativePath));
  const rel = relative(dir, full);
  if (isAbsolute(relativePath) || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`icon path "${relativePath}" must stay inside ${dir}`);
  return full;
}

/** Problems with the icons the manifest names (read from `dir`); [] when they are fine. */
export function checkIcons(manifest: Json, dir: string): string[] {
  const icons = (manifest.icons ?? {}) as Record<string, string>;
  const problems: string[] = [];
  for (const [kind, path] of Object.entries(icons)) {
    const size = ICON_SIZES[kind];
    if (!size) continue;
    let image;
    try {
      image = decodePng(readFileSync(iconPath(dir, path)));
    } catch (err) {
      problems.push(`icons.${kind} (${path}): ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message}`);
      continue;
    }
    if (image.width !== size || image.height !== size) {
      problems.push(`icons.${kind} (${path}) is ${image.width}×${image.height}, Teams wants ${size}×${size}`);
    }
    if (kind !== 'outline') continue;
    let transparent = 0;
    let notWhite = 0;
    let firstNotWhite = '';
    for (let i = 0; i < image.width * image.height; i++) {
      const [r, g, b, a] = image.data.subarray(i * 4, i * 4 + 4);
      if (a === 0) transparent++;
      else if (a >= OUTLINE_ALPHA_FLOOR && Math.min(r, g, b) < OUTLINE_WHITE_FLOOR) {
        if (!notWhite++) firstNotWhite = `(${i % image.width}, ${Math.floor(i / image.width)})`;
      }
    }
    if (transparent < image.width * image.height * OUTLINE_MIN_TRANSPARENT_SHARE) {
      problems.push(`icons.outline (${path}) needs a transparent background (only ${transparent} of ${image.width * image.height} pixels are transparent)`);
    }
    if (notWhite) problems.push(`icons.outline (${path}) must be white: ${notWhite} visible pixels are not, the first at ${firstNotWhite}`);
  }
  return problems;
}

export interface PackageOptions {
  /** Environment name: reads env/.env.<envName>[.user] and names the zip. */
  envName: string;
  /** Overrides the env files (the CLI passes the process environment). */
  processEnv?: Record<string, string | undefined>;
  /** Where env/ is (default: the repository root). */
  root?: string;
  /** The manifest template; its icons are read from the same folder. */
  template?: URL | string;
  /** Output folder (default: teamsapp/build). */
  outDir?: string;
}

export interface AppPackage {
  path: string;
  manifest: Json;
  /** Names inside the zip. */
  files: string[];
}

/** Fill, validate, check and zip. Throws one Error listing every problem; writes nothing then. */
export async function buildAppPackage(opts: PackageOptions): Promise<AppPackage> {
  if (!/^[A-Za-z0-9_-]+$/.test(opts.envName)) throw new Error(`environment name "${opts.envName}" may use letters, digits, _ and - only`);
  const templateFile = opts.template ?? MANIFEST_TEMPLATE;
  const templatePath = typeof templateFile === 'string' ? templateFile : fileURLToPath(templateFile);
  const dir = dirname(templatePath);
  const text = readFileSync(templatePath, 'utf8');
  const vars = loadVariables(opts.envName, opts.processEnv ?? {}, opts.root);
  const [envFile, userFile] = envFiles(opts.envName, opts.root).map((f) => relative(process.cwd(), f));
  const where = { file: relative(process.cwd(), templatePath), sources: `${envFile} (or ${userFile}) or the environment` };
  const manifest = JSON.parse(fillPlaceholders(text, vars, where)) as Json;
  const problems = [...await validateManifest(manifest, JSON.parse(text) as Json), ...checkIcons(manifest, dir)];
  if (problems.length) throw new Error(`The Teams app package for "${opts.envName}" is not valid:\n  - ${problems.join('\n  - ')}`);

  const zip = new JSZip();
  zip.file('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  const icons = Object.values((manifest.icons ?? {}) as Record<string, string>);
  for (const icon of new Set(icons)) zip.file(normalize(icon).split('\\').join('/'), readFileSync(iconPath(dir, icon)));
  const outDir = opts.outDir ?? join(dir, 'build');
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, `appPackage.${opts.envName}.zip`);
  await writeFile(path, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } }));
  return { path, manifest, files: Object.keys(zip.files) };
}

/** `--env name` / `--env=name`; "dev" when absent. */
function envArg(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--env') return argv[i + 1] ?? '';
    if (argv[i].startsWith('--env=')) return argv[i].slice('--env='.length);
  }
  return 'dev';
}

if (isMain(import.meta.url)) {
  try {
    // Like the Toolkit, the package is filled from env files and the shell's environment: this CLI
    // is a build step, not a process of the bot, so core/config.ts does not declare these names.
    const pkg = await buildAppPackage({ envName: envArg(process.argv.slice(2)), processEnv: process.env });
    const bot = (pkg.manifest.bots as Json[])[0];
    console.log(`wrote ${relative(process.cwd(), pkg.path)}: app ${String(pkg.manifest.id)}, bot ${String(bot.botId)}, files ${pkg.files.join(', ')}`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
