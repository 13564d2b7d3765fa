// Worker entry of evaluateBundle({ workers > 1 }): TypeScript through tsx, as in the main thread.
import { register } from 'tsx/esm/api';
register();
await import('./evaluate-worker.ts');
