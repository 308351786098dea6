// Input and output names of the artifacts, in a module of their own (no graph building, no Node
// APIs) so that runtimes in Node and in a browser share them with the graph builders.
/** Names used by every artifact (one place, so the runtime and the graphs agree). */
export const names = {
  x: 'x', y: 'y', xAdv: 'x_adv', noise: 'noise',
  lr: 'lr', momentum: 'momentum', weightDecay: 'weight_decay', beta1: 'beta1', beta2: 'beta2', adamEps: 'adam_eps', step: 'step',
  tradesBeta: 'trades_beta', eps: 'eps', stepSize: 'step_size', decay: 'decay', blend: 'beta',
  loss: 'loss', correct: 'correct', logits: 'logits',
  slot: (slot: string, p: string) => `${slot}:${p}`,
  updated: (n: string) => `new:${n}`,
  ema: (which: 'R' | 'N' | 'A' | 'S' | 'G', n: string) => `${which}:${n}`,
};
