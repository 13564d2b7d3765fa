// `onerec eval`'s option checks: each mistake is refused with a typed error that says what to pass, before any data is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EvalOptionError, run } from '../../../models/commands/eval.ts';

const refused = (pattern: RegExp) => (e: Error) => e instanceof EvalOptionError && pattern.test(e.message);

test('onerec eval refuses a bad split, zero or two sources, an ensemble given as checkpoints, and --renormalize (not a runtime option)', async () => {
  const data = ['--data=does-not-exist', '--out=unused'] as const; // never read or written: every check below comes first
  await assert.rejects(run([...data, '--checkpoint=a.ckpt', '--split=train']), refused(/--split must be 'test' or 'validation', got 'train'/));
  await assert.rejects(run([...data]), refused(/give exactly one of --checkpoint FILE \(GPU\) or --bundle DIR/));
  await assert.rejects(run([...data, '--checkpoint=a.ckpt', '--bundle=b']), refused(/give exactly one of/));
  await assert.rejects(run([...data, '--checkpoint=a.ckpt,b.ckpt']), refused(/to evaluate an ensemble, export it \(onerec export --checkpoint=a,b --out DIR\) and evaluate --bundle DIR/));
  // A bundle is measured through the runtime's recommend(), which never renormalises over the trie's children.
  await assert.rejects(run([...data, '--bundle=b', '--renormalize=true']), (e: Error) => e.name === 'OptionError' && /renormalize/.test(e.message));
});
