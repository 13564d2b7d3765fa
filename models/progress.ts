// Progress bars with ETA for long CLI steps; silent when stderr is not a terminal unless ONEREC_PROGRESS=1,
// in which case a line is printed every few seconds instead.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(label: string, total: number): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(22)} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted} {info}`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update: (done, fields) => bar.update(done, { info: fields ? Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ') : '' }),
      stop: () => bar.stop(),
    };
  }
  const start = Date.now();
  let last = 0;
  return {
    update(done, fields) {
      const now = Date.now();
      if (now - last < 5000 && done < total) return;
      last = now;
      const eta = done > 0 ? ((now - start) / done) * (total - done) / 1000 : 0;
      const info = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ') : '';
      process.stderr.write(`${label}: ${done}/${total} (${((100 * done) / total).toFixed(0)}%) ETA ${eta.toFixed(0)}s${info}\n`);
    },
    stop() {
      process.stderr.write(`${label}: done in ${((Date.now() - start) / 1000).toFixed(1)}s\n`);
    },
  };
}
