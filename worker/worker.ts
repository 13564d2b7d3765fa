import { expose } from 'comlink';
import { workerEndpoint } from './endpoint.ts';

expose(workerEndpoint());
