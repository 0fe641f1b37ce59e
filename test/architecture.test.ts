/**
 * The layering is a rule the build enforces, not a convention: the protocol core does no I/O
 * and reads neither the clock nor randomness, and imports point downward only.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const src = join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Each layer and the layers it may import from (besides itself). */
const allowed: Record<string, string[]> = {
  core: [],
  check: ['core'],
  sim: ['core', 'check'],
  adapters: ['core'],
  runtime: ['core', 'adapters', 'check'],
  frontends: ['core', 'runtime', 'adapters'],
  control: ['core', 'runtime', 'adapters', 'frontends', 'client'],
  compute: ['core', 'runtime', 'adapters'],
  client: ['core'],
  cli: ['core', 'check', 'sim', 'adapters', 'runtime', 'frontends', 'control', 'compute', 'client'],
};

const layerOf = (file: string): string => relative(src, file).split('/')[0].replace(/\.ts$/, '');

function importsOf(text: string): string[] {
  const found: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) found.push(m[1] ?? m[2]);
  return found;
}

test('the protocol core does no I/O and reads neither the clock nor randomness', () => {
  const forbidden = [
    /\bDate\.now\b/,
    /\bnew Date\b/,
    /\bMath\.random\b/,
    /\bsetTimeout\b/,
    /\bsetInterval\b/,
    /\bsetImmediate\b/,
    /\bqueueMicrotask\b/,
    /\bperformance\.now\b/,
    /\bprocess\./,
    /\brequire\(/,
  ];
  const files = sources(join(src, 'core'));
  assert.ok(files.length > 0);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of forbidden) {
      assert.ok(
        !pattern.test(text),
        `${relative(root, file)} uses ${pattern} — pass time/randomness in instead`,
      );
    }
    for (const spec of importsOf(text)) {
      assert.ok(
        spec.startsWith('./') || spec.startsWith('../'),
        `${relative(root, file)} imports '${spec}': the core is dependency-free and does no I/O`,
      );
    }
  }
});

test('imports point downward only (cli → frontends/runtime → core)', () => {
  for (const file of sources(src)) {
    const layer = layerOf(file);
    if (!(layer in allowed)) {
      assert.fail(
        `${relative(root, file)}: layer '${layer}' is not in the architecture test; add it with its allowed imports`,
      );
    }
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = layerOf(join(file, '..', spec));
      if (target === layer || target === 'index') continue;
      assert.ok(
        allowed[layer].includes(target),
        `${relative(root, file)} (${layer}) may not import ${spec} (${target})`,
      );
    }
  }
});

test('the purity check catches what it must (it can fail)', () => {
  const bad = "import { readFileSync } from 'node:fs';\nconst t = Date.now();";
  assert.ok(/\bDate\.now\b/.test(bad));
  assert.deepEqual(importsOf(bad), ['node:fs']);
});
