import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError, parseOptions } from '../../models/options.ts';

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
