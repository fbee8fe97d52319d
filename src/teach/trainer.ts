// Runs the training-step graph (src/model/train-graph.ts) step after step. The flat weight vector and the
// Adam moments live in two preallocated buffer sets that swap roles every step (the inputs of step t are
// the outputs of step t − 1), and onnxruntime writes the outputs straight into them: nothing but two
// scalars is allocated per step.
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Bundle } from '../model/bundle.js';
import type { StudentWeights } from '../model/types.js';
import {
  ADAM_DEFAULTS,
  buildTrainGraph,
  flattenStudents,
  paramCount,
  paramsToStudents,
  splitFlat,
  type AdamHyper,
} from '../model/train-graph.js';
import { openGraphSession, type Opened, type SessionOptions } from '../pipeline/inference.js';

/** Optimiser state: moments laid out like the flat parameter vector (paramSpecs order). */
export interface AdamState {
  /** Steps taken so far (torch's `step`). */
  step: number;
  m: Float32Array;
  v: Float32Array;
}

export interface StepLoss {
  loss: number;
  forward: number;
  backward: number;
}

export interface TrainerOptions extends SessionOptions {
  lr: number;
  /** Largest number of rows one step takes; the row buffers are this big. */
  maxRows: number;
  adam?: Partial<AdamHyper>;
  /** Resume from this optimiser state (its moments are copied). */
  state?: AdamState;
}

/** A loss that is NaN or infinite: training stops and the state stays at the last finite step. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly loss: number,
  ) {
    super(
      `teach-in diverged: the loss became ${loss} at step ${step}. No model was written; ` +
        `try a lower learning rate (--lr)`,
    );
    this.name = 'NonFiniteLossError';
  }
}

interface BufferSet {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  feeds: Record<string, Tensor>;
  fetches: Record<string, Tensor | null>;
}

export class StudentTrainer {
  /** Rows of the next step are written here by the caller ([maxRows, D] row-major), then step(rows). */
  readonly fa: Float32Array;
  readonly fb: Float32Array;
  private readonly sets: [BufferSet, BufferSet];
  private cur = 0;
  private t: number;
  private busy = false;
  private released = false;

  private constructor(
    private readonly o: Opened,
    private readonly dim: number,
    private readonly hidden: number,
    private readonly opts: TrainerOptions,
    students: StudentWeights,
  ) {
    const { ort } = o;
    const T = paramCount(dim, hidden);
    if (opts.state) checkState(opts.state, T);
    this.fa = new Float32Array(opts.maxRows * dim);
    this.fb = new Float32Array(opts.maxRows * dim);
    const make = (first: boolean): BufferSet => {
      const params = first ? flattenStudents(students) : new Float32Array(T);
      const m = first && opts.state ? Float32Array.from(opts.state.m) : new Float32Array(T);
      const v = first && opts.state ? Float32Array.from(opts.state.v) : new Float32Array(T);
      const feeds: Record<string, Tensor> = {
        params: new ort.Tensor('float32', params, [T]),
        m: new ort.Tensor('float32', m, [T]),
        v: new ort.Tensor('float32', v, [T]),
      };
      return { params, m, v, feeds, fetches: {} };
    };
    this.sets = [make(true), make(false)];
    // Each set's outputs are the other set's buffers.
    for (const [a, b] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const other = this.sets[b].feeds;
      this.sets[a].fetches = {
        loss: null,
        loss_forward: null,
        loss_backward: null,
        new_params: other.params,
        new_m: other.m,
        new_v: other.v,
      };
    }
    this.t = opts.state?.step ?? 0;
  }

  static async open(bundle: Bundle, students: StudentWeights, opts: TrainerOptions): Promise<StudentTrainer> {
    const dim = students.forward.layers[0].inFeatures;
    const hidden = students.forward.layers[0].outFeatures;
    if (!(opts.lr > 0 && Number.isFinite(opts.lr)))
      throw new Error(`learning rate must be > 0, got ${opts.lr}`);
    if (!Number.isInteger(opts.maxRows) || opts.maxRows < 1) throw new Error(`maxRows must be ≥ 1`);
    const threads = trainThreads(opts.threads, opts.maxRows, dim, hidden);
    const o = await openGraphSession(bundle, { ...opts, threads }, 'train', () =>
      buildTrainGraph({ dim, hidden, adam: opts.adam }),
    );
    return new StudentTrainer(o, dim, hidden, opts, students);
  }

  get provider(): string {
    return this.o.provider;
  }

  /** Optimiser steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One Adam step on the first `rows` rows of fa / fb. A non-finite loss throws NonFiniteLossError and
   * leaves the weights and moments as they were before the step.
   */
  async step(rows: number): Promise<StepLoss> {
    if (this.released) throw new Error('trainer: step() after release()');
    if (this.busy) throw new Error('trainer: step() while another step is running');
    if (!Number.isInteger(rows) || rows < 1 || rows > this.opts.maxRows) {
      throw new Error(`trainer: ${rows} rows, expected 1..${this.opts.maxRows}`);
    }
    const { ort } = this.o;
    const D = this.dim;
    const hyper = { ...ADAM_DEFAULTS, ...this.opts.adam };
    const t = this.t + 1;
    const set = this.sets[this.cur];
    const n = rows * D;
    const feeds: Record<string, Tensor> = {
      ...set.feeds,
      fa: new ort.Tensor('float32', this.fa.subarray(0, n), [rows, D]),
      fb: new ort.Tensor('float32', this.fb.subarray(0, n), [rows, D]),
      // Bias corrections in float64 on the host, as torch computes them.
      step_size: new ort.Tensor('float32', new Float32Array([this.opts.lr / (1 - hyper.beta1 ** t)]), []),
      bc2_sqrt: new ort.Tensor('float32', new Float32Array([Math.sqrt(1 - hyper.beta2 ** t)]), []),
    };
    this.busy = true;
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await this.o.session.run(feeds, set.fetches as InferenceSession.FetchesType);
    } finally {
      this.busy = false;
    }
    const scalar = (name: string): number => (out[name].data as Float32Array)[0];
    const loss = scalar('loss');
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(t, loss);
    this.cur = 1 - this.cur;
    this.t = t;
    return { loss, forward: scalar('loss_forward'), backward: scalar('loss_backward') };
  }

  /** The current students as views of the live buffers: copy (snapshot) before the next step if kept. */
  students(): StudentWeights {
    return paramsToStudents(
      splitFlat(this.sets[this.cur].params, this.dim, this.hidden),
      this.dim,
      this.hidden,
    );
  }

  /** A copy of the current students and optimiser state. */
  snapshot(): { students: StudentWeights; state: AdamState } {
    const s = this.sets[this.cur];
    return {
      students: paramsToStudents(splitFlat(s.params.slice(), this.dim, this.hidden), this.dim, this.hidden),
      state: { step: this.t, m: s.m.slice(), v: s.v.slice() },
    };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.o.session.release();
  }
}

/** Below this many FLOPs a step, one onnxruntime thread is faster than several (see trainThreads). */
export const SMALL_STEP_FLOPS = 4e9;

/**
 * Intra-op threads for the training session. An explicit count is kept; otherwise small steps run on one
 * thread: a step is ~150 kernels, and the thread pool's per-kernel hand-off outweighs splitting small
 * matrices. Measured on 2 cores: width 64, 1024 rows: 5.1 ms a step on one thread, 12.9 ms on two; width 768,
 * 4096 rows (77 GFLOP): 1.49 s on one, 0.96 s on two.
 */
export function trainThreads(threads: number | undefined, rows: number, dim: number, hidden: number): number {
  if (threads !== undefined && threads > 0) return threads;
  // 8 products of the students' three layers per student: 3 forward, 3 weight gradients, 2 input gradients.
  const flops = 2 * 2 * rows * (dim * hidden + hidden * hidden + hidden * dim) * (8 / 3);
  return flops < SMALL_STEP_FLOPS ? 1 : 0;
}

function checkState(st: AdamState, total: number): void {
  if (!Number.isInteger(st.step) || st.step < 0) throw new Error(`optimiser state: bad step ${st.step}`);
  if (st.m.length !== total || st.v.length !== total) {
    throw new Error(`optimiser state: moments of ${st.m.length} / ${st.v.length} values, expected ${total}`);
  }
}
