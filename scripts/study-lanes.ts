// The study's scheduler: steps grouped in chains (one run folder each: train, then its evaluations),
// run in order within a chain, up to `lanes` chains at once, in queue order. A chain may wait for
// another (fine-tuning waits for its starting model); after a failed step no new step starts.

export interface ChainStep { title: string; chain: string; after?: string; done: () => boolean }

/** Runs every chain whose steps are not done; `exec` runs one step and says whether it succeeded. */
export async function runChains<S extends ChainStep>(steps: S[], lanes: number, exec: (s: S) => Promise<boolean>): Promise<boolean> {
  const chains = new Map<string, S[]>();
  for (const s of steps) chains.set(s.chain, [...(chains.get(s.chain) ?? []), s]);
  const finished = new Set<string>();
  let failed = false;
  const runChain = async (key: string) => {
    for (const s of chains.get(key)!) {
      if (s.done()) continue;
      if (!(await exec(s))) { failed = true; return; }
    }
    finished.add(key);
  };
  const isReady = (key: string) => { const a = chains.get(key)![0].after; return !a || !chains.has(a) || finished.has(a); };
  const pending = [...chains.keys()];
  const active = new Set<Promise<void>>();
  while (pending.length && !failed) {
    const i = pending.findIndex(isReady);
    if (i < 0 || active.size >= Math.max(1, lanes)) {
      if (!active.size) throw new Error(`chains wait for chains that never finish: ${pending.join(', ')}`);
      await Promise.race(active);
      continue;
    }
    const key = pending.splice(i, 1)[0];
    const p: Promise<void> = runChain(key).finally(() => active.delete(p));
    active.add(p);
  }
  await Promise.all(active);
  return !failed;
}
