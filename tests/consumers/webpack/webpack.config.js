// webpack 5 follows `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })` in onerec-web on its own.
import { fileURLToPath } from 'node:url';

export default {
  entry: './src/app.js',
  output: { path: fileURLToPath(new URL('./dist/', import.meta.url)), filename: 'app.js', clean: true },
};
