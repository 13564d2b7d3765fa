#!/usr/bin/env node
// The `onerec` CLI. The pipeline is TypeScript run through tsx, so the source is what runs.
import { register } from 'tsx/esm/api';
register();
await import('../models/cli.ts');
