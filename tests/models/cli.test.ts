// The CLI as a user meets it: every verb's --help describes every option, no default points into this
// repository's own folders, and a verb run without its folders says which to pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const bin = fileURLToPath(new URL('../../bin/onerec.mjs', import.meta.url));
const verbs = readdirSync(fileURLToPath(new URL('../../models/commands/', import.meta.url)))
  .filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));

/** Runs `onerec ...args` from a fresh empty folder, as a user outside the repository would. */
async function onerec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'onerec-cli-'));
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

test('every verb\'s --help gives each option a one-line description, and no default points into this repository', async () => {
  assert.ok(verbs.includes('prepare') && verbs.includes('train') && verbs.includes('serve'), verbs.join(','));
  const helps = await Promise.all(verbs.map((verb) => onerec([verb, '--help'])));
  verbs.forEach((verb, v) => {
    const { code, stdout } = helps[v];
    assert.equal(code, 0, `${verb} --help exits 0`);
    const options = stdout.split('\n').filter((line) => line.startsWith('  --'));
    assert.ok(options.length > 0, `${verb}: options listed`);
    for (const line of options) {
      const m = /^ {2}(--\S+(?: \(required\))?) {2,}(\S.*)$/.exec(line);
      assert.ok(m, `${verb}: '${line}' has a description after the option`);
      assert.notEqual(m[2], '(no description)', `${verb}: ${m[1]} has a // comment in its config`);
      assert.doesNotMatch(m[1], /\.\.\/shared|runs\/|models\/bundles|\.work\//, `${verb}: ${m[1]} defaults into this repository`);
    }
  });
});

test('verbs that read and write the user\'s folders refuse to start without them, naming each', async () => {
  const cases: [string, RegExp][] = [
    ['prepare', /--data is required \(dataset folder.*--out is required/],
    ['train', /--data is required \(prepared data directory.*--out is required/],
    ['export', /--checkpoint is required.*--data is required.*--out is required/],
    ['eval', /--data is required.*--out is required/],
    ['align', /--prepared and --out are required/],
    ['transitions', /--bundle is required.*--data is required/],
  ];
  const runs = await Promise.all(cases.map(([verb]) => onerec([verb])));
  cases.forEach(([verb, message], i) => {
    assert.equal(runs[i].code, 1, verb);
    assert.match(runs[i].stderr, /^onerec: OptionError: /, verb);
    assert.match(runs[i].stderr, message, verb);
    assert.doesNotMatch(runs[i].stderr, /\.\.\/shared|PLATFORM\.md/, verb);
  });
});
