import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OptionError, optionDescriptions, optionsHelp, parseOptions } from '../../models/options.ts';

const defaults = { epochs: 3, name: 'beauty', baseline: true, verbose: false };

test('overrides take the type of their default', () => {
  assert.deepEqual(parseOptions(['--epochs=5', '--name', 'toys'], defaults), { epochs: 5, name: 'toys', baseline: true, verbose: false });
});

test('booleans: bare flag is true, =false switches a true default off', () => {
  assert.deepEqual(parseOptions(['--verbose', '--baseline=false'], defaults), { epochs: 3, name: 'beauty', baseline: false, verbose: true });
});

test('unknown keys and badly typed values are rejected with the key named', () => {
  assert.throws(() => parseOptions(['--epoch=5'], defaults), (e: Error) => e instanceof OptionError && /epoch/.test(e.message) && /--epochs/.test(e.message));
  assert.throws(() => parseOptions(['--epochs=five'], defaults), /--epochs must be a number, got 'five'/);
  assert.throws(() => parseOptions(['--baseline=no'], defaults), /--baseline must be true or false/);
});

test('required options: missing or empty is an OptionError naming each; --help still works without them', () => {
  const withFolders = { data: '', out: '', epochs: 3 };
  assert.throws(() => parseOptions(['--epochs=4'], withFolders, 'tool --data DIR --out DIR', { required: ['data', 'out'] }),
    (e: Error) => e instanceof OptionError && /--data is required/.test(e.message) && /--out is required/.test(e.message) && /Usage: tool --data DIR --out DIR/.test(e.message));
  assert.throws(() => parseOptions(['--data=x', '--out='], withFolders, '', { required: ['data', 'out'] }), (e: Error) => /--out is required/.test(e.message) && !/--data is/.test(e.message));
  assert.deepEqual(parseOptions(['--data=x', '--out=y'], withFolders, '', { required: ['data', 'out'] }), { data: 'x', out: 'y', epochs: 3 });
  assert.equal(parseOptions(['--help'], withFolders, 'tool', { required: ['data', 'out'] }), null);
});

test('option descriptions are the `// comments` of the config fields: the verb file first, then interfaces, then values it imports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-options-'));
  try {
    writeFileSync(join(dir, 'config.ts'), [
      'export interface Config {',
      '  lr: number; // peak learning rate',
      '  epochs: number; // passes over the data',
      '}',
      'export const DEFAULT_CONFIG: Config = {',
      '  lr: 2e-3,',
      '  epochs: 30, // the cosine schedule spans this many (a reason, not a description)',
      '  seed: 1, // every random choice',
      '};',
    ].join('\n'));
    writeFileSync(join(dir, 'verb.ts'), [
      "import { DEFAULT_CONFIG } from './config.ts';",
      'export const DEFAULTS = {',
      "  url: 'http://example.org/a', // where from: a '//' inside a string is not a comment",
      "  out: '', // output folder",
      '  ...DEFAULT_CONFIG,',
      '  plain: 1,',
      '};',
    ].join('\n'));
    const described = optionDescriptions(['url', 'out', 'lr', 'epochs', 'seed', 'plain'], join(dir, 'verb.ts'));
    assert.deepEqual(Object.fromEntries(described), {
      url: "where from: a '//' inside a string is not a comment",
      out: 'output folder',
      lr: 'peak learning rate',
      epochs: 'passes over the data',
      seed: 'every random choice',
    });
    const help = optionsHelp({ url: 'http://example.org/a', out: '', plain: 1 }, ['out'], join(dir, 'verb.ts')).split('\n');
    assert.equal(help[0], 'options (default):');
    assert.match(help[1], /^ {2}--url=http:\/\/example\.org\/a +where from/);
    assert.match(help[2], /^ {2}--out \(required\) +output folder$/);
    assert.match(help[3], /^ {2}--plain=1 +\(no description\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
