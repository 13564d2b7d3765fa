// Errors of the data stage. Each names the file and line (1-based, the header is line 1) and says how to fix it.

/** A data file does not match its format: a missing column, a bad value, an unknown or duplicate id. */
export class DataFormatError extends Error {
  override name = 'DataFormatError';
  readonly file: string;
  readonly line: number; // 1-based; 0 when the problem is the file as a whole
  constructor(file: string, line: number, message: string) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

/** A prepared directory (`onerec prepare --out`) is missing a file or its files disagree. */
export class PreparedDataError extends Error {
  override name = 'PreparedDataError';
}

/**
 * An evaluation that would count its own targets: a split's targets were training data of the model (a refit through
 * validation) or are counted in the bundle's transition table. The message says which evaluation is sound instead.
 */
export class EvaluationLeakError extends Error {
  override name = 'EvaluationLeakError';
}
