/** Delay before reconnect attempt `attempt` (1-based): exponential with full jitter, capped. */
export function backoffDelayMs(attempt: number, baseMs = 100, maxMs = 5000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
