// The thread protocol of the wasm kernels' decoder (runtime/wasm-decoder.ts): helper threads (worker/wasm-helper.ts in
// browsers, runtime-node/wasm-helper-node.ts on worker_threads) hold a replica of the decoder on the same shared memory, and
// each decoder step hands every helper a contiguous share of the beams through a control block in that memory — one
// Atomics notify / wait each way. Beams are independent within a step, so shares need no other synchronisation.
import { WasmDecoderError } from './errors.ts';
import type { EngineModelConfig } from './model-config.ts';

/** What a helper thread needs to run shares of the steps on the same shared memory (structured-cloneable). */
export interface WasmHelperInit {
  module: WebAssembly.Module; // a shared-memory build
  memory: WebAssembly.Memory; // shared
  members: EngineModelConfig[];
  dec: { offset: Record<string, number>; base: number };
  encW: { offset: Record<string, number>; base: number };
  heapTop: number; // the allocator's top where the decoder's own buffers begin (the same layout on every thread)
  relaxed: boolean;
  threads: number;
  ctl: number; // byte offset of this helper's control block (CTL_SLOTS i32)
}

/** Starts a helper thread running serveWasmHelper(init) (a Worker in browsers, worker_threads in Node). */
export type SpawnWasmHelper = (init: WasmHelperInit) => { terminate(): void };

// A helper's control block (i32 slots in the shared memory): the main thread writes a share's parameters and bumps SEQ;
// the helper runs it and sets DONE to that SEQ (STATUS 0, or 1 if it threw).
const CTL = { SEQ: 0, DONE: 1, READY: 2, STATUS: 3, B0: 4, B1: 5, B: 6, T: 7, POSITION: 8, BASE: 9, PARITY: 10, N: 11, CAP: 12, QUIT: 13, THREAD: 14 } as const;
/** i32 slots of one control block. */
export const CTL_SLOTS = 16;
/** A share or a start-up that takes longer means the helper is gone (ms). */
export const HELPER_TIMEOUT_MS = 10_000;

/** One thread's share of a decoder step: beams [b0, b1) of B, T tokens each, at `position` (runtime/wasm-decoder.ts step()). */
export interface Share {
  b0: number; b1: number; B: number; T: number;
  position: number; // decoder position of the step's first token
  base: number; // first cache row of the step's new rows
  parity: number; // which of the two ancestor tables the step reads
  n: number; // positions the cross inputs hold
  cap: number; // rows the per-request buffers were laid out for
  thread: number; // which scratch set the share uses
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The running helpers of one decoder, seen from the thread that drives the steps. */
export class HelperPool {
  private helpers: { ctl: number; handle: { terminate(): void } }[] = [];

  /** `i32`: a view of the shared memory, re-made after it grows. */
  private constructor(private readonly i32: () => Int32Array) {}

  /**
   * Starts one helper per control block (`ctls`, byte offsets) with `spawn(init(ctl))` and waits until each has set
   * READY. Helpers that do not within `timeoutMs` are stopped: the pool is then empty and `note` says why.
   */
  static async start(i32: () => Int32Array, ctls: number[], spawn: SpawnWasmHelper, init: (ctl: number) => WasmHelperInit, timeoutMs = HELPER_TIMEOUT_MS): Promise<{ pool: HelperPool; note: string | null }> {
    const pool = new HelperPool(i32);
    pool.helpers = ctls.map((ctl) => ({ ctl, handle: spawn(init(ctl)) }));
    const deadline = now() + timeoutMs;
    const waiting = (): boolean => pool.helpers.some((h) => Atomics.load(i32(), h.ctl / 4 + CTL.READY) !== 1);
    while (waiting() && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    if (!waiting()) return { pool, note: null };
    pool.stop();
    return { pool, note: `the kernels' helper threads did not start within ${timeoutMs / 1000} s` };
  }

  /** An empty pool: one thread runs every step. */
  static none(i32: () => Int32Array): HelperPool {
    return new HelperPool(i32);
  }

  /** Helpers running. */
  get size(): number {
    return this.helpers.length;
  }

  /** Hands `share` to helper `j` (0-based); returns what wait() needs. */
  post(j: number, share: Share): { ctl: number; seq: number } {
    const i32 = this.i32();
    const ctl = this.helpers[j].ctl / 4;
    const { b0, b1, B, T, position, base, parity, n, cap } = share;
    i32.set([b0, b1, B, T, position, base, parity, n, cap], ctl + CTL.B0);
    i32[ctl + CTL.THREAD] = share.thread;
    const seq = Atomics.add(i32, ctl + CTL.SEQ, 1) + 1;
    Atomics.notify(i32, ctl + CTL.SEQ);
    return { ctl, seq };
  }

  /** Waits for posted shares; a helper that times out or failed stops them all (WasmDecoderError: the next requests run on one thread). */
  wait(running: { ctl: number; seq: number }[]): void {
    const i32 = this.i32();
    for (const { ctl, seq } of running) {
      for (let done = Atomics.load(i32, ctl + CTL.DONE); done !== seq; done = Atomics.load(i32, ctl + CTL.DONE)) {
        if (Atomics.wait(i32, ctl + CTL.DONE, done, HELPER_TIMEOUT_MS) === 'timed-out') {
          this.stop();
          throw new WasmDecoderError(`a helper thread did not finish its share of a step within ${HELPER_TIMEOUT_MS / 1000} s; the next requests run on one thread`);
        }
      }
      if (Atomics.load(i32, ctl + CTL.STATUS) !== 0) {
        this.stop();
        throw new WasmDecoderError('a helper thread failed on its share of a step; the next requests run on one thread');
      }
    }
  }

  /** Tells every helper to quit and terminates it. */
  stop(): void {
    const i32 = this.i32();
    for (const h of this.helpers) {
      Atomics.store(i32, h.ctl / 4 + CTL.QUIT, 1);
      Atomics.add(i32, h.ctl / 4 + CTL.SEQ, 1);
      Atomics.notify(i32, h.ctl / 4 + CTL.SEQ);
      h.handle.terminate();
    }
    this.helpers = [];
  }
}

/** A helper thread's loop: run each share posted to the control block at `ctl` with `run` until told to quit. */
export async function serveShares(i32: () => Int32Array, ctl: number, run: (share: Share) => void): Promise<void> {
  const at = ctl / 4;
  let seen = Atomics.load(i32(), at + CTL.SEQ);
  Atomics.store(i32(), at + CTL.READY, 1);
  for (;;) {
    Atomics.wait(i32(), at + CTL.SEQ, seen);
    seen = Atomics.load(i32(), at + CTL.SEQ);
    if (Atomics.load(i32(), at + CTL.QUIT)) return;
    const [b0, b1, B, T, position, base, parity, n, cap] = i32().subarray(at + CTL.B0, at + CTL.CAP + 1);
    let status = 0;
    try {
      run({ b0, b1, B, T, position, base, parity, n, cap, thread: Atomics.load(i32(), at + CTL.THREAD) });
    } catch {
      status = 1;
    }
    Atomics.store(i32(), at + CTL.STATUS, status);
    Atomics.store(i32(), at + CTL.DONE, seen);
    Atomics.notify(i32(), at + CTL.DONE);
  }
}
