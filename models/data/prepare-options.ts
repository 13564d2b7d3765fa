// The valid values of `onerec prepare`'s options, checked before any data is read: each numeric option's range
// (integer or not) and each named option's choices. An option outside them is an OptionError that names it, the
// value and the valid range, so that a typo fails in a millisecond instead of after the read and the embeddings.
import { OptionError } from '../options.ts';

export interface OptionRange {
  min: number;
  max: number;
  integer: boolean;
  why?: string; // what the bound protects, shown in the message
}

const int = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: true, why });
const real = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: false, why });

/** Every numeric option of DEFAULT_PREPARE_CONFIG (models/data/prepare.ts); a test checks that none is missing. */
export const PREPARE_OPTION_RANGES: Record<string, OptionRange> = {
  levels: int(1, 15, 'the token layout has levels + 1 ≤ 16 code levels, the runtime\'s bound'),
  codebookSize: int(2, 65_536, 'codes are stored as uint16'),
  seed: int(0, 2 ** 32 - 1, 'a 32-bit seed'),
  maxIterations: int(1, 100_000),
  idDim: int(0, 4096, '0 = the full embedding'),
  threads: int(0, 1024, '0 = one per core'),
  baselineMaxItems: int(0, 2 ** 31 - 1, '0 = any catalog size'),
  historyCap: int(1, 10_000, 'the runtime takes at most 10000 history items'),
  validationDays: int(0, 365),
  testDays: int(1, 365),
  gapMinutes: real(1, 10_080, 'a week'),
  minConsumed: int(0, 10_000),
  consumedPlayMs: real(0, 86_400_000, 'a day'),
  minTotalPlayMs: real(0, 86_400_000, 'a day'),
  windowLength: int(1, 1000),
  rewardGapHours: real(0, 8760, 'a year'),
  rewardSessionLength: int(1, 64, 'the runtime scores sessions of at most 64 items'),
  rewardMinItems: int(1, 64),
  randomDim: int(1, 4096),
  collaborativeWeight: real(0, 1, '1 = the baseline\'s embeddings alone'),
  alignWindow: int(1, 1000),
  alignWeight: real(0, 1e6),
  alignHops: int(0, 100),
  evalPairs: int(0, 10_000_000),
  evalCandidates: int(0, 2 ** 31 - 1, '0 = every item'),
};

/** The named options' choices. */
export const PREPARE_OPTION_CHOICES: Record<string, readonly string[]> = {
  semanticIds: ['plain', 'balanced'],
  split: ['auto', 'leave-one-out', 'time'],
  content: ['auto', 'text', 'features', 'random', 'cooccurrence'],
  kmeansDevice: ['auto', 'cpu', 'gpu'],
};

/** Throws OptionError for the first option of `config` outside its range or choices. */
export function checkOptionValues(config: Record<string, unknown>, ranges: Record<string, OptionRange> = PREPARE_OPTION_RANGES, choices: Record<string, readonly string[]> = PREPARE_OPTION_CHOICES): void {
  for (const [key, range] of Object.entries(ranges)) {
    const value = config[key];
    if (value === undefined) continue;
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= range.min && value <= range.max && (!range.integer || Number.isInteger(value));
    if (!ok) {
      throw new OptionError(`--${key}=${String(value)} is out of range: use ${range.integer ? 'an integer' : 'a number'} in ${range.min}..${range.max}${range.why ? ` (${range.why})` : ''}`);
    }
  }
  for (const [key, valid] of Object.entries(choices)) {
    const value = config[key];
    if (value !== undefined && !valid.includes(value as string)) throw new OptionError(`--${key}=${String(value)} is not one of ${valid.join(', ')}`);
  }
}
