import { describe, expect, it } from 'vitest'

import { backoffDelay } from './backoff'

describe('backoffDelay', () => {
  it('doubles from the base up to the cap', () => {
    const top = () => 1
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100].map((n) => backoffDelay(n, { random: top }))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ])
  })

  it('jitters between half the step and the step', () => {
    expect(backoffDelay(2, { random: () => 0 })).toBe(2_000)
    expect(backoffDelay(2, { random: () => 0.5 })).toBe(3_000)
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3)
      expect(d).toBeGreaterThanOrEqual(4_000)
      expect(d).toBeLessThanOrEqual(8_000)
    }
  })

  it('takes its own base and cap', () => {
    expect(backoffDelay(0, { base: 500, max: 2_000, random: () => 1 })).toBe(500)
    expect(backoffDelay(5, { base: 500, max: 2_000, random: () => 1 })).toBe(2_000)
    expect(backoffDelay(-1, { random: () => 1 })).toBe(1_000)
  })
})
