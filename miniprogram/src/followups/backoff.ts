/**
 * How long to wait before reconnecting after `failures` failed attempts in
 * a row: doubling from `base` up to `max`, with jitter (between half the
 * step and the whole step) so that many phones do not come back at once.
 */
export function backoffDelay(
  failures: number,
  { base = 1_000, max = 30_000, random = Math.random }: { base?: number; max?: number; random?: () => number } = {},
): number {
  const step = Math.min(max, base * 2 ** Math.max(0, Math.min(failures, 30)))
  return Math.round(step / 2 + (random() * step) / 2)
}
