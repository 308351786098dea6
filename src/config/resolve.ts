// resolveConfig: defaults <- preset <- JSON file <- CLI overrides, then validation. All problems
// are collected into one ConfigError whose message lists every bad field, what it holds and what
// is allowed.
import { readFileSync } from 'node:fs';
import fv from 'fastest-validator';
import type { ValidationError } from 'fastest-validator';
import { PRESETS, DEFAULT_CONFIG } from './presets.js';
import { CONFIG_SCHEMA, allPaths, describeRule, leafPaths, ruleAt, toValidatorSchema, type Rule } from './schema.js';
import type { Config, Knot, PartialConfig } from './types.js';
import { sha256 } from '../util/hash.js';

export interface ConfigIssue {
  /** Dotted path of the field ('attack.eps', 'optim.robust.lr[1][0]'), or '' for the whole config. */
  field: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[], context = 'invalid configuration') {
    super(`${context}:\n${issues.map((i) => `  - ${i.field ? `${i.field}: ` : ''}${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

type ValidatorCtor = typeof fv.default;
// fastest-validator is CommonJS (module.exports = class); its typings describe an ES default export.
const Validator: ValidatorCtor = ((fv as unknown as { default?: ValidatorCtor }).default ?? fv) as unknown as ValidatorCtor;

const MESSAGES = {
  required: 'is required',
  number: 'must be a number',
  numberMin: 'must be >= {expected}',
  numberMax: 'must be <= {expected}',
  numberInteger: 'must be an integer',
  boolean: 'must be true or false',
  string: 'must be a string',
  stringEmpty: 'must not be empty',
  stringPattern: 'has characters that are not allowed',
  enumValue: 'is not one of the allowed values',
  array: 'must be a list',
  arrayMin: 'must have at least {expected} item(s)',
  tuple: 'must be a list',
  tupleEmpty: 'must not be empty',
  tupleLength: 'must have exactly {expected} items',
  object: 'must be a group (a JSON object)',
  objectStrict: 'has unknown key(s) {actual}',
};

let compiled: ((v: unknown) => true | ValidationError[]) | undefined;
function check(value: unknown): true | ValidationError[] {
  if (!compiled) {
    const v = new Validator({ messages: MESSAGES });
    const schema = { ...(toValidatorSchema(CONFIG_SCHEMA).props as Record<string, unknown>), $$strict: true };
    compiled = v.compile(schema as Parameters<typeof v.compile>[0]) as (v: unknown) => true | ValidationError[];
  }
  return compiled(value);
}

/** Short rendering of a value for messages. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const t of path.match(/[^.[\]]+/g) ?? []) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[t];
  }
  return cur;
}

function issueFromValidator(e: ValidationError, value: unknown): ConfigIssue {
  const field = e.field ?? '';
  const rule = ruleAt(field);
  const got = e.type === 'tupleLength' || e.type === 'arrayMin' ? getPath(value, field) : e.actual;
  const allowed = rule ? `; allowed: ${describeRule(rule)}` : '';
  return { field, message: `${e.message ?? e.type} (got ${show(got)})${allowed}` };
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

function suggest(key: string, candidates: readonly string[]): string {
  const k = key.toLowerCase();
  let best = '', bestD = Infinity;
  for (const cand of candidates) {
    const c = cand.toLowerCase();
    let d = c.startsWith(k) && k.length >= 3 ? 0 : distance(k, c);
    // A key written without its group ('eps' for 'attack.eps').
    if (!k.includes('.')) d = Math.min(d, distance(k, c.split('.').pop()!) + 1);
    if (d < bestD) { bestD = d; best = cand; }
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean '${best}'?)` : '';
}

/** Unknown keys in a partial config, with suggestions. */
function unknownKeys(partial: unknown, rule: Rule = CONFIG_SCHEMA, prefix = ''): ConfigIssue[] {
  if (rule.type !== 'object' || !rule.props || partial === null || typeof partial !== 'object' || Array.isArray(partial)) return [];
  const out: ConfigIssue[] = [];
  const all = allPaths();
  for (const [k, v] of Object.entries(partial)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const sub = Object.hasOwn(rule.props, k) ? rule.props[k] : undefined;
    if (!sub) {
      out.push({ field: path, message: `unknown key${suggest(path, all)}; allowed keys${prefix ? ` of ${prefix}` : ''}: ${Object.keys(rule.props).join(', ')}` });
    } else out.push(...unknownKeys(v, sub, path));
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deep merge: objects merge key by key, everything else (arrays included) replaces. Inputs are not modified. */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? clone(base) : clone(over)) as T;
  const out: Record<string, unknown> = clone(base) as Record<string, unknown>;
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = Object.hasOwn(out, k) ? mergeConfig(out[k], v) : clone(v);
  }
  return out as T;
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

// ---- overrides --------------------------------------------------------------------------------

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** '0.1', '1e-3', '-2', or a ratio '8/255'. */
function parseNumber(s: string): number | undefined {
  const t = s.trim();
  if (NUMBER_RE.test(t)) return Number(t);
  const m = /^(.+)\/(.+)$/.exec(t);
  if (m && NUMBER_RE.test(m[1].trim()) && NUMBER_RE.test(m[2].trim())) {
    const d = Number(m[2]);
    if (d !== 0) return Number(m[1]) / d;
  }
  return undefined;
}

function parseValue(raw: string, rule: Rule, key: string): unknown {
  switch (rule.type) {
    case 'number': {
      const n = parseNumber(raw);
      if (n === undefined) throw new ConfigError([{ field: key, message: `'${raw}' is not a number; allowed: ${describeRule(rule)}` }], 'invalid override');
      return n;
    }
    case 'boolean': {
      const t = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      throw new ConfigError([{ field: key, message: `'${raw}' is not a boolean; allowed: true or false` }], 'invalid override');
    }
    case 'array':
    case 'tuple': {
      const t = raw.trim();
      if (t.startsWith('[')) {
        try {
          return JSON.parse(t) as unknown;
        } catch (e) {
          throw new ConfigError([{ field: key, message: `'${raw}' is not a JSON list (${(e as Error).message}); allowed: ${describeRule(rule)}` }], 'invalid override');
        }
      }
      // A flat comma-separated list of numbers: 'optim.robust.betas=0.9,0.99', or of names: 'model.frozen=conv1.*,fc.*'.
      const items = Array.isArray(rule.items) ? rule.items : rule.items ? [rule.items] : [];
      if (rule.type === 'array' && items.length && items.every((r) => r.type === 'string')) return t ? t.split(',').map((p) => p.trim()) : [];
      if (items.every((r) => r.type === 'number')) {
        const parts = t.split(',').map(parseNumber);
        if (parts.every((p) => p !== undefined)) return parts;
      }
      throw new ConfigError([{ field: key, message: `'${raw}' is not a list; write JSON such as ${rule.type === 'tuple' ? '[0.9, 0.999]' : '[[0, 0.01], [0.5, 0.001]]'}; allowed: ${describeRule(rule)}` }], 'invalid override');
    }
    default:
      return raw;
  }
}

/** Turns dotted-path overrides ('attack.eps' -> '0.1') into a partial config, typed by the schema. */
export function parseOverrides(overrides: Record<string, string>): PartialConfig {
  const out: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  const all = leafPaths();
  for (const [key, raw] of Object.entries(overrides)) {
    const path = key.trim();
    const rule = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(path) ? ruleAt(path) : undefined;
    if (!rule) {
      issues.push({ field: key, message: `unknown config key${suggest(path, all)}; keys are dotted paths such as attack.eps, dataset.name, optim.robust.lr (listConfigKeys() lists them)` });
      continue;
    }
    if (rule.type === 'object') {
      const keys = leafPaths(rule, path);
      issues.push({ field: key, message: `is a group; set its fields one by one: ${keys.join(', ')}` });
      continue;
    }
    try {
      const value = parseValue(String(raw), rule, path);
      const parts = path.split('.');
      let cur = out;
      for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
      cur[parts[parts.length - 1]] = value;
    } catch (e) {
      if (e instanceof ConfigError) issues.push(...e.issues);
      else throw e;
    }
  }
  if (issues.length) throw new ConfigError(issues, 'invalid override');
  return out as PartialConfig;
}

/** Splits CLI arguments 'attack.eps=0.1' into { 'attack.eps': '0.1' }. */
export function parseOverrideArgs(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const bad: ConfigIssue[] = [];
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) bad.push({ field: a, message: "overrides are written key=value, e.g. attack.eps=0.1" });
    else out[a.slice(0, i).replace(/^--/, '')] = a.slice(i + 1);
  }
  if (bad.length) throw new ConfigError(bad, 'invalid override');
  return out;
}

/** Every settable key (dotted path), in schema order. */
export const listConfigKeys = (): string[] => leafPaths();

// ---- semantic checks that the schema language cannot express ----------------------------------

function checkKnots(field: string, knots: Knot[], issues: ConfigIssue[]): void {
  for (let i = 1; i < knots.length; i++) {
    if (knots[i][0] < knots[i - 1][0]) {
      issues.push({ field, message: `knot fractions must be nondecreasing, but point ${i} (${show(knots[i])}) comes before point ${i - 1} (${show(knots[i - 1])})` });
      return;
    }
  }
}

function semanticIssues(c: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const which of ['robust', 'natural'] as const) {
    const o = c.optim[which];
    const p = `optim.${which}`;
    checkKnots(`${p}.lr`, o.lr, issues);
    if (o.momentum >= 1) issues.push({ field: `${p}.momentum`, message: `must be < 1 (got ${o.momentum}); allowed: a number in [0, 1)` });
    o.betas.forEach((b, i) => {
      if (b >= 1) issues.push({ field: `${p}.betas[${i}]`, message: `must be < 1 (got ${b}); allowed: two numbers in [0, 1)` });
    });
    if (!(o.epsilon > 0)) issues.push({ field: `${p}.epsilon`, message: `must be > 0 (got ${o.epsilon})` });
  }
  checkKnots('generalist.beta', c.generalist.beta, issues);
  const ema = c.generalist.ema;
  if (ema.unit === 'iterations' && ema.memory < 1) {
    issues.push({ field: 'generalist.ema.memory', message: `must be >= 1 iteration when generalist.ema.unit is 'iterations' (got ${ema.memory}); for a fraction of the run set generalist.ema.unit=run` });
  }
  if (ema.unit === 'run' && !(ema.memory > 0 && ema.memory <= 1)) {
    issues.push({ field: 'generalist.ema.memory', message: `must be a fraction in (0, 1] when generalist.ema.unit is 'run' (got ${ema.memory})` });
  }
  if (c.attack.steps > 0 && c.attack.eps > 0 && !(c.attack.stepSize > 0)) {
    issues.push({ field: 'attack.stepSize', message: `must be > 0 when attack.steps > 0 (got ${c.attack.stepSize})` });
  }
  const nm = c.model.normalize;
  if (nm.mean.length !== nm.std.length) {
    issues.push({ field: 'model.normalize', message: `needs as many means as standard deviations (got ${nm.mean.length} means and ${nm.std.length} stds)` });
  }
  nm.std.forEach((s, i) => { if (!(s > 0)) issues.push({ field: `model.normalize.std[${i}]`, message: `must be > 0 (got ${s})` }); });
  const v = c.dataset.validation;
  if (v >= 1 && !Number.isInteger(v)) {
    issues.push({ field: 'dataset.validation', message: `must be a whole count or a fraction in (0, 1) (got ${v})` });
  }
  if (c.eval.split === 'validation' && v === 0) {
    issues.push({ field: 'eval.split', message: "is 'validation' but dataset.validation is 0; hold out validation images (e.g. dataset.validation=1000) or set eval.split=test (then the test set chooses the best checkpoint)" });
  }
  return issues;
}

function schemaIssues(value: unknown): ConfigIssue[] {
  const res = check(value);
  return res === true ? [] : res.filter((e) => e.type !== 'objectStrict').map((e) => issueFromValidator(e, value));
}

/** Validates a complete config object; throws ConfigError listing every problem. */
export function validateConfig(value: unknown, unknownKeyIssues: ConfigIssue[] = unknownKeys(value)): Config {
  const issues = [...unknownKeyIssues, ...schemaIssues(value)];
  if (issues.length) throw new ConfigError(issues);
  const c = value as Config;
  const sem = semanticIssues(c);
  if (sem.length) throw new ConfigError(sem);
  return c;
}

// ---- the entry point --------------------------------------------------------------------------

export interface ResolveOptions {
  /** A preset name (listPresets()). A JSON file may also name one in its "preset" key. */
  preset?: string;
  /** Path of a JSON config file (a partial config). */
  file?: string;
  /** A partial config object, merged after the file (programmatic use). */
  config?: PartialConfig;
  /** CLI overrides: dotted path -> string value, merged last. */
  overrides?: Record<string, string>;
}

function readConfigFile(path: string): { preset?: string; partial: PartialConfig } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([{ field: '', message: `cannot read config file ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})` }], 'invalid configuration file');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([{ field: '', message: `${path} is not valid JSON: ${(e as Error).message}` }], 'invalid configuration file');
  }
  if (!isPlainObject(parsed)) throw new ConfigError([{ field: '', message: `${path} must hold a JSON object` }], 'invalid configuration file');
  const { preset, ...rest } = parsed;
  if (preset !== undefined && typeof preset !== 'string') {
    throw new ConfigError([{ field: 'preset', message: `in ${path} must be a preset name (got ${show(preset)}); presets: ${Object.keys(PRESETS).join(', ')}` }], 'invalid configuration file');
  }
  return { preset: preset as string | undefined, partial: rest as PartialConfig };
}

function presetConfig(name: string): PartialConfig {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new ConfigError([{ field: 'preset', message: `unknown preset '${name}'${suggest(name, Object.keys(PRESETS))}; presets: ${Object.keys(PRESETS).join(', ')}` }]);
  }
  return PRESETS[name].config;
}

/**
 * The full, validated config: defaults <- preset <- file <- config <- overrides. The run name
 * defaults to the preset name; outDir '' resolves to runs/<name>.
 */
export function resolveConfig(opts: ResolveOptions = {}): Config {
  const file = opts.file ? readConfigFile(opts.file) : undefined;
  const presetName = opts.preset ?? file?.preset;
  const layers: { source: string; partial: unknown }[] = [];
  if (presetName) layers.push({ source: `preset ${presetName}`, partial: presetConfig(presetName) });
  if (file) layers.push({ source: `file ${opts.file}`, partial: file.partial });
  if (opts.config) layers.push({ source: 'config object', partial: opts.config });
  if (opts.overrides) layers.push({ source: 'overrides', partial: parseOverrides(opts.overrides) });
  // Unknown keys are reported per layer, so the message can say where they came from.
  const unk = layers.flatMap((l) => unknownKeys(l.partial).map((is) => ({ field: is.field, message: `${is.message} (in ${l.source})` })));
  let merged: Config = clone(DEFAULT_CONFIG);
  for (const l of layers) merged = mergeConfig(merged, l.partial);
  const explicitName = layers.some((l) => isPlainObject(l.partial) && l.partial.name !== undefined);
  if (!explicitName && presetName) merged.name = presetName;
  const c = validateConfig(merged, unk);
  if (c.outDir === '') c.outDir = `runs/${c.name}`;
  return c;
}

/** Presets with their descriptions. */
export function listPresets(): { name: string; description: string }[] {
  return Object.entries(PRESETS).map(([name, p]) => ({ name, description: p.description }));
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * sha256 (hex) of the config's canonical JSON: equal configs hash equal whatever their key order.
 * `ignore` drops dotted paths first (e.g. ['name', 'outDir', 'threads'] to compare training setups).
 */
export function configHash(config: Config, opts: { ignore?: readonly string[] } = {}): string {
  const c = clone(config) as unknown as Record<string, unknown>;
  for (const path of opts.ignore ?? []) {
    const parts = path.split('.');
    let cur: unknown = c;
    for (const p of parts.slice(0, -1)) cur = isPlainObject(cur) ? cur[p] : undefined;
    if (isPlainObject(cur)) delete cur[parts[parts.length - 1]];
  }
  // Fields added after runs already existed hash as before while at their defaults, so those runs
  // still resume.
  const model = c.model as { normalize?: { mean: number[]; std: number[] }; trainable?: string[]; frozen?: string[] } | undefined;
  if (model?.normalize && !model.normalize.mean.length && !model.normalize.std.length) delete model.normalize;
  if (model?.trainable && !model.trainable.length) delete model.trainable;
  if (model?.frozen && !model.frozen.length) delete model.frozen;
  return sha256(canonicalJson(c));
}
