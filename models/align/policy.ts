// What iterative preference alignment needs from a generator ("policy"), whatever runs it: the seed
// transformer on the WebGPU engine, or the small CPU policy in models/align/bigram-policy.ts.
import type { DecoderSession } from '../../runtime/beam-search.ts';

/** One preference pair of one user with the reference model's log-probabilities (M_t, frozen). */
export interface ScoredPair {
  history: Int32Array;   // [≤ maxHistory] item indices, oldest first
  chosen: Int32Array;    // [sessionLength] items of the highest-reward generated session
  rejected: Int32Array;  // [sessionLength] items of the lowest-reward one
  refChosen: number;     // log π_ref(chosen | history)
  refRejected: number;   // log π_ref(rejected | history)
  anchor?: { history: Int32Array; items: Int32Array }; // a real session of the user ([sessionLength] items) and its history: the next-token term's target
}

export interface DecoderBatch {
  sessions: DecoderSession[];
  finished(user: number): void;
  release(): void;
}

export interface DpoStepResult {
  loss: number;      // dpo + ntpWeight · ntp
  dpo: number;       // mean −log σ(z)
  ntp: number;       // mean next-token cross-entropy of the anchor (else chosen) sessions (nats per code token)
  accuracy: number;  // fraction of pairs with z > 0 before the step
}

export interface AlignPolicy {
  readonly levels: number;
  readonly codebookSize: number;
  /**
   * Decoders for a batch of users' histories, one DecoderSession each for runtime/beam-search.ts. Run their
   * searches concurrently and call `finished(i)` when user i's search ends: a batched backend serves all
   * live users' steps with one forward. `release()` frees what the batch holds.
   */
  decoders(histories: readonly Int32Array[]): DecoderBatch;
  /** log π(session | history) per pair row, teacher-forced, summed over code tokens.  sessions [B, m] → [B] */
  sequenceLogProbs(histories: readonly Int32Array[], sessions: Int32Array): Promise<Float64Array>;
  /**
   * One optimiser step of L = DPO(β) + ntpWeight · NTP over `pairs` (π_ref log-probs given), as in OneRec
   * §3.3: M_{t+1} is trained from M_t with M_t as the reference, mixed with the next-token loss. NTP is on
   * each pair's real `anchor` session when it has one (keeps the model on what users watched), else on
   * the chosen session.
   */
  dpoStep(pairs: readonly ScoredPair[], beta: number, ntpWeight: number, learningRate: number): Promise<DpoStepResult>;
  /** Plain next-token training on observed sessions (used to train the CPU policy's seed). */
  ntpStep?(histories: readonly Int32Array[], sessions: Int32Array, learningRate: number): Promise<number>;
}
