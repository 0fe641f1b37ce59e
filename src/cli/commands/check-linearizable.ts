/** `arpeggio check linearizable`: judges a recorded history file against a model. */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { type History, HistoryError, parseHistory } from '../../check/history.js';
import { type CheckResult, checkHistory, type OpSummary } from '../../check/linearizability.js';
import { MODEL_NAMES, MODELS, type ModelName } from '../../check/models.js';
import { boolFlag, choiceFlag, floatFlag, intFlag, parseFlags, positionals } from '../args.js';
import type { Command } from '../command.js';

const DEFAULT_TIMEOUT_S = 60;
const DEFAULT_MEMORY_MB = 256;

const usage = `arpeggio check linearizable — is a recorded history linearizable?

Usage: arpeggio check linearizable FILE [--model ${MODEL_NAMES.join('|')}] [--timeout-s T]
                                         [--max-memory-mb M] [--max-cache-entries N] [--json]

FILE is a Jepsen-shaped history in JSON Lines, one event per line:
  {"process": 3, "type": "invoke"|"ok"|"fail"|"info", "f": "read", "key": "k", "value": null, "time": 12}
(see docs/CHECKER.md). Each key is checked on its own (in turns); the check stops at the first
key found not linearizable and shows the longest linearizable prefix found for it, and the
operations that could not follow it.

Flags:
  --model M              ${MODEL_NAMES.map((m) => `${m}: ${MODELS[m].description}`).join('\n                         ')}
                         default: cas-register if the history has cas operations, kv if it
                         has appends, otherwise kv if every written value is a string and
                         cas-register if not
  --timeout-s T          give up with "unknown" after T seconds (default ${DEFAULT_TIMEOUT_S})
  --max-memory-mb M      give up with "unknown" when the search's memory reaches M MiB
                         (default ${DEFAULT_MEMORY_MB})
  --max-cache-entries N  give up with "unknown" when the search memo holds N entries
                         (default: no limit but the memory's)
  --json                 print one JSON object: {"valid": true|false|"unknown", "ops", "keys",
                         "elapsedMs", "model", "failingKey"?, "counterexample"?, "reason"?}

Exit status: 0 linearizable, 1 not linearizable, 2 unknown (time or memory limit) or bad input.

Example:
  arpeggio check linearizable test/fixtures/histories/c50-ok.jsonl --json
  arpeggio check linearizable test/fixtures/histories/etcd_000.jsonl --model cas-register`;

export const checkLinearizableCommand: Command = {
  name: 'linearizable',
  summary: 'check a JSON Lines history for linearizability (cas-register, kv models)',
  usage,
  async run(argv) {
    const flags = parseFlags(argv, {
      model: { type: 'string' },
      'timeout-s': { type: 'string' },
      'max-memory-mb': { type: 'string' },
      'max-cache-entries': { type: 'string' },
      json: { type: 'boolean' },
    });
    const [file] = positionals(flags, ['FILE']);
    const timeoutS = floatFlag(flags, 'timeout-s', DEFAULT_TIMEOUT_S, { min: 0 });
    const maxMemoryMb = floatFlag(flags, 'max-memory-mb', DEFAULT_MEMORY_MB, { min: 1 });
    const maxCacheEntries = intFlag(flags, 'max-cache-entries', Number.MAX_SAFE_INTEGER, { min: 1 });
    const json = boolFlag(flags, 'json');
    const chosenModel =
      flags.values.model === undefined ? undefined : choiceFlag(flags, 'model', 'kv', MODEL_NAMES);

    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      process.stderr.write(`arpeggio check linearizable: cannot read ${file}: ${reason}\n`);
      return 2;
    }

    let result: CheckResult;
    let modelName: ModelName;
    try {
      const history = parseHistory(text);
      modelName = chosenModel ?? guessModel(history);
      result = checkHistory(history, MODELS[modelName], {
        now: () => performance.now(),
        timeoutMs: timeoutS * 1000,
        maxCacheEntries,
        maxCacheBytes: maxMemoryMb * 2 ** 20,
      });
    } catch (err) {
      if (!(err instanceof HistoryError)) throw err;
      process.stderr.write(`arpeggio check linearizable: ${file}: ${err.message}\n`);
      return 2;
    }

    result.elapsedMs = Math.round(result.elapsedMs * 10) / 10;
    if (json) {
      const { valid, ops, keys, elapsedMs, ...rest } = result;
      process.stdout.write(`${JSON.stringify({ valid, ops, keys, elapsedMs, model: modelName, ...rest })}\n`);
    } else {
      process.stdout.write(`${summary(file, modelName, result)}\n`);
    }
    return result.valid === true ? 0 : result.valid === false ? 1 : 2;
  },
};

/** The model a history most likely wants; documented in the usage text. */
function guessModel(history: History): ModelName {
  const ops = history.operations;
  if (ops.some((op) => op.f === 'cas')) return 'cas-register';
  if (ops.some((op) => op.f === 'append')) return 'kv';
  return ops.every((op) => op.f !== 'write' || typeof op.input === 'string') ? 'kv' : 'cas-register';
}

const PREFIX_SHOWN = 10;

function summary(file: string, model: ModelName, r: CheckResult): string {
  const head = `${file}: ${r.ops} operations on ${r.keys} key${r.keys === 1 ? '' : 's'}, model ${model}, ${r.elapsedMs} ms`;
  if (r.valid === true) return `${head}\nlinearizable`;
  if (r.valid === 'unknown') return `${head}\nunknown: ${r.reason}`;
  const lines = [head, `NOT linearizable: key '${r.failingKey}'`];
  const c = r.counterexample;
  if (c) {
    const shown = c.linearized.slice(-PREFIX_SHOWN);
    lines.push(
      '',
      `Longest linearizable prefix found: ${c.linearized.length} operations` +
        (shown.length < c.linearized.length ? ` (the last ${shown.length}):` : ':'),
      ...shown.map((op) => `  ${describe(op)}`),
      `State after it: ${c.stateAfter}`,
      '',
      `It cannot be extended to include, before it returned, ${describe(c.mustPrecede)}.`,
      'Operations that could come next, none leading to a full linearization:',
      ...c.candidates.map(
        (op) => `  ${describe(op)}${op.allowed ? '' : `   <- impossible in state ${c.stateAfter}`}`,
      ),
    );
  }
  return lines.join('\n');
}

function describe(op: OpSummary): string {
  const ret = op.returnTime === null ? 'never returned (info)' : `returned at ${op.returnTime}`;
  return `process ${op.process} ${op.f} ${JSON.stringify(op.value)} (${op.type}), invoked at ${op.invokeTime}, ${ret}, line ${op.invokeLine}`;
}
