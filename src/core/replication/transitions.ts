/**
 * The functions f that consensus applies to a key's current record, one per operation. Each
 * decides the next record (or no change) and the client's reply, from the current record alone.
 */
import { isAbsent, type KvRecord } from '../record.js';
import type { Transition } from './consensus.js';
import { type KvReply, type KvRequest, kvError } from './messages.js';
import { readReply } from './quorum.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The value bytes and expiry of a next record; the consensus layer stamps the rest. */
function next(value: Uint8Array | null, expiresAtMs: number): KvRecord {
  return { value, expiresAtMs, hlc: 0, writer: '', vv: {} };
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Redis's integer rule: an optional minus sign and decimal digits, no leading zeros or spaces. */
export function parseInteger(bytes: Uint8Array): number | null {
  if (bytes.length === 0 || bytes.length > 20) return null;
  const text = decoder.decode(bytes);
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

export function transitionFor(req: KvRequest, nowMs: number): (current: KvRecord | null) => Transition {
  return (current) => {
    const present = !isAbsent(current ?? undefined, nowMs);
    const value = present ? (current as KvRecord).value : null;
    switch (req.op) {
      case 'get':
        return { next: 'unchanged', reply: readReply(present ? current : null, nowMs) };
      case 'set': {
        const blocked =
          (req.condition === 'if-absent' && present) || (req.condition === 'if-present' && !present);
        const reply: KvReply = { ok: true, applied: !blocked, ...(req.returnPrevious ? { value } : {}) };
        if (blocked) return { next: 'unchanged', reply };
        const keptExpiry = req.keepTtl && present ? (current as KvRecord).expiresAtMs : 0;
        return { next: next(req.value, req.keepTtl ? keptExpiry : req.expiresAtMs), reply };
      }
      case 'del':
        if (!present) return { next: 'unchanged', reply: { ok: true, applied: false } };
        return { next: next(null, 0), reply: { ok: true, applied: true } };
      case 'incr': {
        const n = value === null ? 0 : parseInteger(value);
        if (n === null) {
          return {
            next: 'unchanged',
            reply: kvError('NOT_INTEGER', true, 'value is not an integer or out of range'),
          };
        }
        const sum = n + req.by;
        if (!Number.isSafeInteger(sum)) {
          return {
            next: 'unchanged',
            reply: kvError('NOT_INTEGER', true, 'increment or decrement would overflow'),
          };
        }
        const keepExpiry = present ? (current as KvRecord).expiresAtMs : 0;
        return {
          next: next(encoder.encode(String(sum)), keepExpiry),
          reply: { ok: true, applied: true, number: sum },
        };
      }
      case 'cas': {
        if (!sameBytes(value, req.expected))
          return { next: 'unchanged', reply: { ok: true, applied: false, value } };
        return { next: next(req.value, 0), reply: { ok: true, applied: true } };
      }
      default:
        return stringTransition(req, present ? (current as KvRecord) : null, nowMs);
    }
  };
}

/** Redis's largest string (proto-max-bulk-len default, 512 MiB): SETRANGE and APPEND stop there. */
export const MAX_STRING_BYTES = 512 * 1024 * 1024;

const TOO_LONG = 'string exceeds maximum allowed size (proto-max-bulk-len)';

/** The string operations beyond get/set/del/incr/cas; `live` is the current record if present. */
function stringTransition(req: KvRequest, live: KvRecord | null, nowMs: number): Transition {
  const value = live ? (live.value as Uint8Array) : null;
  const expiry = live ? live.expiresAtMs : 0;
  switch (req.op) {
    case 'append': {
      const length = (value?.length ?? 0) + req.value.length;
      if (length > (req.maxBytes ?? MAX_STRING_BYTES))
        return { next: 'unchanged', reply: kvError('BAD_REQUEST', true, TOO_LONG) };
      const joined = new Uint8Array(length);
      if (value) joined.set(value);
      joined.set(req.value, value?.length ?? 0);
      return { next: next(joined, expiry), reply: { ok: true, applied: true, number: length } };
    }
    case 'setrange': {
      const old = value ?? new Uint8Array(0);
      if (req.value.length === 0)
        return { next: 'unchanged', reply: { ok: true, applied: false, number: old.length } };
      const length = Math.max(old.length, req.offset + req.value.length);
      if (length > (req.maxBytes ?? MAX_STRING_BYTES))
        return { next: 'unchanged', reply: kvError('BAD_REQUEST', true, TOO_LONG) };
      const out = new Uint8Array(length);
      out.set(old);
      out.set(req.value, req.offset);
      return { next: next(out, expiry), reply: { ok: true, applied: true, number: length } };
    }
    case 'incrbyfloat': {
      const base = value === null ? 0 : parseFloatText(decoder.decode(value));
      const by = parseFloatText(req.by);
      if (base === null || by === null) {
        return { next: 'unchanged', reply: kvError('BAD_REQUEST', true, 'value is not a valid float') };
      }
      const sum = base + by;
      if (!Number.isFinite(sum)) {
        return {
          next: 'unchanged',
          reply: kvError('BAD_REQUEST', true, 'increment would produce NaN or Infinity'),
        };
      }
      const text = encoder.encode(formatFloat(sum));
      return { next: next(text, expiry), reply: { ok: true, applied: true, value: text } };
    }
    case 'getdel':
      if (live === null) return { next: 'unchanged', reply: { ok: true, applied: false, value: null } };
      return { next: next(null, 0), reply: { ok: true, applied: true, value } };
    case 'getex': {
      const reply: KvReply = { ok: true, applied: live !== null, value };
      if (live === null || req.expiresAtMs === null || req.expiresAtMs === expiry)
        return { next: 'unchanged', reply };
      if (req.expiresAtMs !== 0 && req.expiresAtMs <= nowMs) return { next: next(null, 0), reply };
      return { next: next(value, req.expiresAtMs), reply };
    }
    case 'expire': {
      const allowed =
        live !== null &&
        req.conditions.every(
          (c) =>
            (c === 'nx' && expiry === 0) ||
            (c === 'xx' && expiry !== 0) ||
            (c === 'gt' && expiry !== 0 && req.expiresAtMs > expiry) ||
            (c === 'lt' && (expiry === 0 || req.expiresAtMs < expiry)),
        );
      if (!allowed) return { next: 'unchanged', reply: { ok: true, applied: false } };
      if (req.expiresAtMs <= nowMs) return { next: next(null, 0), reply: { ok: true, applied: true } };
      return { next: next(value, req.expiresAtMs), reply: { ok: true, applied: true } };
    }
    case 'persist':
      if (live === null || expiry === 0) return { next: 'unchanged', reply: { ok: true, applied: false } };
      return { next: next(value, 0), reply: { ok: true, applied: true } };
    case 'ttl':
      return { next: 'unchanged', reply: { ok: true, applied: live !== null, expiresAtMs: expiry } };
    default:
      return { next: 'unchanged', reply: kvError('BAD_REQUEST', true, `'${req.op}' is not a key operation`) };
  }
}

/** Redis's float syntax (string2ld): decimal or exponent form, no spaces; no NaN or infinities. */
export function parseFloatText(text: string): number | null {
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/**
 * A float as INCRBYFLOAT writes it: plain decimal, no exponent, no trailing zeros. JS's shortest
 * round-trip digits, where Redis prints a long double with 17 digits: they agree for the values
 * people add (10.5 + 0.1 = 10.6), and can differ in the last digits (docs/REDIS-COMPATIBILITY.md).
 */
export function formatFloat(n: number): string {
  if (Object.is(n, -0)) return '0';
  const text = String(n);
  if (!/e/.test(text)) return text;
  const fixed = Math.abs(n) >= 1 ? BigInt(n).toString() : n.toFixed(20).replace(/\.?0+$/, '');
  return fixed === '-0' ? '0' : fixed;
}
