import { describe, expect, it } from 'vitest'

import { days, money, percent, periodFrom, randomUuid, reasonNeed, targetStages } from './model'

const ALL = ['lead', 'qualified', 'proposal', 'negotiation', 'closed_won', 'closed_lost'] as const

describe('the funnel board', () => {
  it('offers every other stage for an open deal, only lead and qualified for a closed one', () => {
    expect(targetStages('proposal', ALL)).toEqual(['lead', 'qualified', 'negotiation', 'closed_won', 'closed_lost'])
    expect(targetStages('closed_won', ALL)).toEqual(['lead', 'qualified'])
  })

  it('asks for a reason when reopening, optionally when lost', () => {
    expect(reasonNeed('closed_lost', 'lead')).toBe('required')
    expect(reasonNeed('proposal', 'closed_lost')).toBe('optional')
    expect(reasonNeed('lead', 'qualified')).toBe('none')
  })

  it('formats figures in Chinese', () => {
    expect(percent(0.456)).toBe('46%')
    expect(percent(null)).toBe('—')
    expect(money('9999.4')).toBe('¥9999')
    expect(money('123456.78')).toBe('¥12.3万')
    expect(money('50000')).toBe('¥5万')
    expect(money('25000000')).toBe('¥2500万')
    expect(days(3)).toBe('3 天')
    expect(days(2.345)).toBe('2.3 天')
    expect(days(null)).toBe('—')
  })

  it('starts 本月 and 本季度 on the first day', () => {
    const now = new Date(2025, 7, 20, 15, 0)
    expect(periodFrom('all', now)).toBeUndefined()
    expect(new Date(periodFrom('month', now) ?? '').getMonth()).toBe(7)
    expect(new Date(periodFrom('quarter', now) ?? '').getMonth()).toBe(6)
    expect(new Date(periodFrom('quarter', now) ?? '').getDate()).toBe(1)
  })

  it('makes v4 UUIDs', () => {
    expect(randomUuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
