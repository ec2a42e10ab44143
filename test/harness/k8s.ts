/**
 * Kubernetes manifests for the tests: a renderer for the part of kustomize infra/k8s uses (resources,
 * namespace, images, JSON 6902 patches with a target; anything else is refused), and two validators:
 * kubernetes-models' JSON schemas (types, enums, required fields) and the models' TypeScript types,
 * which reject unknown fields (a misspelt `readinessProbe` passes the JSON schemas, not the types).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import ts from 'typescript';
import { ROOT } from './infra.ts';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** `Kind/name`, the key kustomize targets and the tests report by. */
export const keyOf = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

const NAMESPACED_EXCEPT = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ClusterTriggerAuthentication', 'StorageClass', 'PersistentVolume']);

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { target: { kind: string; name: string }; patch?: string; path?: string }[];
}
const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'patches']);

function readDocs(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${path}: ${d.errors[0].message}`);
      return d.toJSON() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** Render a kustomization directory (relative to the repository root) the way `kubectl kustomize` does. */
export function renderKustomization(dir: string): K8sObject[] {
  const abs = join(ROOT, dir);
  const k = parseYaml(readFileSync(join(abs, 'kustomization.yaml'), 'utf8')) as Kustomization;
  for (const field of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(field)) throw new Error(`${dir}/kustomization.yaml: the test renderer does not implement "${field}"`);
  }
  let objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = join(abs, r);
    if (!existsSync(path)) throw new Error(`${dir}: resource ${r} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(join(dir, r)) : readDocs(path)));
  }
  objects = structuredClone(objects);
  for (const p of k.patches ?? []) {
    const matches = objects.filter((o) => o.kind === p.target.kind && o.metadata.name === p.target.name);
    if (matches.length === 0) throw new Error(`${dir}: patch target ${p.target.kind}/${p.target.name} matches nothing`);
    const ops = parseYaml(p.patch ?? readFileSync(join(abs, p.path!), 'utf8')) as JsonPatchOp[];
    for (const o of matches) applyJsonPatch(o, ops, `${dir}: patch ${p.target.kind}/${p.target.name}`);
  }
  for (const img of k.images ?? []) {
    for (const c of containersOf(objects)) {
      const [name, tag] = splitImage(c.image);
      if (name === img.name) c.image = `${img.newName ?? name}${img.newTag ?? tag ? `:${img.newTag ?? tag}` : ''}`;
    }
  }
  if (k.namespace) {
    for (const o of objects) if (!NAMESPACED_EXCEPT.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return objects;
}

function splitImage(image: string): [string, string | undefined] {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}

/** Every container (init containers too) of every workload. */
export function containersOf(objects: K8sObject[]): { image: string; name: string; [k: string]: unknown }[] {
  return objects.flatMap((o) => {
    const pod = podSpecOf(o);
    return pod ? [...(pod.containers ?? []), ...(pod.initContainers ?? [])] : [];
  });
}

export interface PodSpec {
  containers: { name: string; image: string; [k: string]: unknown }[];
  initContainers?: { name: string; image: string; [k: string]: unknown }[];
  [k: string]: unknown;
}

export function podSpecOf(o: K8sObject): PodSpec | undefined {
  const spec = o.spec as { template?: { spec?: PodSpec } } | undefined;
  return ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind) ? spec?.template?.spec : undefined;
}

interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** RFC 6902 add/replace/remove (what the overlays use); other operations are refused. */
export function applyJsonPatch(doc: unknown, ops: JsonPatchOp[], where: string): void {
  for (const { op, path, value } of ops) {
    const parts = path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error(`${where}: cannot ${op} the whole document`);
    let parent = doc as Record<string, unknown> | unknown[];
    for (const part of parts) {
      const next = Array.isArray(parent) ? parent[Number(part)] : parent[part];
      if (next === null || typeof next !== 'object') throw new Error(`${where}: ${path}: ${part} does not exist`);
      parent = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`${where}: ${path}: bad index`);
      if (op === 'add') parent.splice(i, 0, structuredClone(value));
      else if (i >= parent.length) throw new Error(`${where}: ${path}: no element to ${op}`);
      else if (op === 'replace') parent[i] = structuredClone(value);
      else if (op === 'remove') parent.splice(i, 1);
      else throw new Error(`${where}: op ${String(op)} is not supported`);
    } else {
      if (op !== 'add' && !(last in parent)) throw new Error(`${where}: ${path} does not exist (${op})`);
      if (op === 'add' || op === 'replace') parent[last] = structuredClone(value);
      else if (op === 'remove') delete parent[last];
      else throw new Error(`${where}: op ${String(op)} is not supported`);
    }
  }
}

/** Where kubernetes-models keeps each API group's models. */
function modelModule(apiVersion: string): string {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** Validate against the model's JSON schema; throws with the object and the field on the first error. */
export async function validateWithModel(o: K8sObject): Promise<void> {
  const mod = (await import(modelModule(o.apiVersion))) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`${keyOf(o)}: kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (err) {
    throw new Error(`${keyOf(o)}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Type-check every object against its model's TypeScript interface (`I<Kind>`), one program for all:
 * excess-property checks name any field Kubernetes does not know. Returns the errors, one per line.
 */
export function typeCheckWithModels(groups: { label: string; objects: K8sObject[] }[]): string[] {
  const file = join(ROOT, 'test', '__k8s_manifests__.ts');
  const imports = new Map<string, string>();
  const lines: string[] = [];
  const labels: string[] = [];
  for (const { label, objects } of groups) {
    for (const o of objects) {
      const alias = `T${imports.size}`;
      const spec = `${modelModule(o.apiVersion)}/${o.kind}`;
      if (![...imports.values()].includes(spec)) imports.set(alias, spec);
      const typeAlias = [...imports.entries()].find(([, s]) => s === spec)![0];
      labels.push(`${label} ${keyOf(o)}`);
      lines.push(`export const m${labels.length - 1}: ${typeAlias}.I${o.kind} = ${JSON.stringify(o)};`);
    }
  }
  const source = [...[...imports].map(([alias, spec]) => `import type * as ${alias} from '${spec}';`), ...lines].join('\n');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, onError);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sf).map((d) => {
    const lineNo = d.start === undefined ? -1 : sf.getLineAndCharacterOfPosition(d.start).line - imports.size;
    const what = labels[lineNo] ?? dirname(file);
    return `${what}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`;
  });
}
