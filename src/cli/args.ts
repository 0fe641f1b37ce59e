/**
 * Flag parsing for every command, on node's util.parseArgs (strict: an unknown flag is an
 * error). Every bad value names the flag, what was given and what is accepted.
 */
import { parseArgs } from 'node:util';

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseFlags(argv: string[], spec: FlagSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...spec, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

interface NumberBounds {
  min?: number;
  max?: number;
}

function describeBounds({ min, max }: NumberBounds): string {
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  if (min !== undefined) return `at least ${min}`;
  if (max !== undefined) return `at most ${max}`;
  return 'a number';
}

/** An integer flag: `--name N`. */
export function intFlag(p: Parsed, name: string, fallback: number, bounds: NumberBounds = {}): number {
  const raw = p.values[name];
  if (raw === undefined) return fallback;
  const text = String(raw);
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got '${text}'`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is too large: '${text}'`);
  checkBounds(name, n, text, bounds);
  return n;
}

/** A decimal flag: `--name X`. */
export function floatFlag(p: Parsed, name: string, fallback: number, bounds: NumberBounds = {}): number {
  const raw = p.values[name];
  if (raw === undefined) return fallback;
  const text = String(raw);
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} must be a number, got '${text}'`);
  checkBounds(name, n, text, bounds);
  return n;
}

function checkBounds(name: string, n: number, text: string, bounds: NumberBounds): void {
  if ((bounds.min !== undefined && n < bounds.min) || (bounds.max !== undefined && n > bounds.max)) {
    throw new UsageError(`--${name} must be ${describeBounds(bounds)}, got ${text}`);
  }
}

/** A flag with one of a fixed set of values. */
export function choiceFlag<T extends string>(p: Parsed, name: string, fallback: T, choices: readonly T[]): T {
  const raw = p.values[name];
  if (raw === undefined) return fallback;
  const text = String(raw);
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}; got '${text}'`);
  }
  return text as T;
}

export function boolFlag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** Exactly `count` positional arguments, named for the error message. */
export function positionals(p: Parsed, names: string[]): string[] {
  if (p.positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(p.positionals.length).join(' ')}`);
  }
  if (p.positionals.length > names.length) {
    throw new UsageError(`unexpected argument '${p.positionals[names.length]}'`);
  }
  return p.positionals;
}
