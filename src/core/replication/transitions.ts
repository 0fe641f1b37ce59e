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
        return { next: next(req.value, req.expiresAtMs), reply };
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
    }
  };
}
