/** Summary of one measurement series, in milliseconds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no samples');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  // Even counts average the two middle samples, so --runs 4 is not biased upwards.
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(samples: number[]): Summary {
  return {
    median: round1(median(samples)),
    min: round1(Math.min(...samples)),
    max: round1(Math.max(...samples)),
    samples: samples.map(round1),
  };
}

/** How many times slower than the floor, to 2 decimals. */
export function ratio(value: Summary, floor: Summary): number {
  return Math.round((value.median / floor.median) * 100) / 100;
}
