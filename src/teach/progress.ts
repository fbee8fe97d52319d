// What a teach-in reports while it runs (TeachInParams.onProgress): the CLI's bar, the demo and the log read it.

/** How long a teach-in trains: a fixed number of epochs, or the auto schedule (in whole epochs). */
export type TrainPlan =
  | { kind: 'epochs'; epochs: number; steps: number }
  | {
      kind: 'auto';
      /** Steps always taken (AutoSchedule.minSteps rounded up to whole epochs). */
      minSteps: number;
      /** The bound: the plateau test usually stops well before. */
      maxSteps: number;
      maxEpochs: number;
    };

/** After every optimiser step. */
export interface TrainProgress {
  phase: 'train';
  epoch: number;
  step: number;
  plan: TrainPlan;
  loss: number;
  elapsedSeconds: number;
  /**
   * Seconds at the rate so far to the last step of a fixed run, or to the auto schedule's minimum; NaN past the
   * minimum (the end depends on the loss).
   */
  etaSeconds: number;
}

export type TeachInProgress =
  | { phase: 'images'; done: number }
  | { phase: 'features'; done: number; total: number }
  | TrainProgress
  | { phase: 'epoch'; epoch: number; epochs: number; loss: number; steps: number }
  | { phase: 'calibrate'; done: number; total: number };
