import { describe as suite, expect, it } from 'vitest'

import { describe, when, type TimelineEntry } from './timeline'

const entry = (kind: string, details: Record<string, unknown>): TimelineEntry => ({
  sequence: 2,
  position: 10,
  kind,
  occurred_at: '2026-12-01T01:30:00Z',
  recorded_at: '2026-12-01T01:30:00Z',
  actor: 'rep-1',
  details: details as TimelineEntry['details'],
})

suite('timeline entries', () => {
  it('name activities by their type and subject', () => {
    expect(describe(entry('activity', { type: 'visit', subject: '上门拜访' }))).toEqual({
      title: '拜访',
      line: '上门拜访',
    })
    expect(describe(entry('activity', { type: 'fax' })).title).toBe('跟进')
  })

  it('show stage moves with the stages in Chinese and the reason', () => {
    expect(describe(entry('stage_moved', { from: 'lead', to: 'qualified' })).line).toBe('潜在客户 → 合格线索')
    expect(describe(entry('stage_moved', { from: 'proposal', to: 'closed_lost', reason: '预算不足' })).line).toBe(
      '方案阶段 → 失败（预算不足）',
    )
  })

  it('show purchases, tags and unknown kinds', () => {
    expect(describe(entry('purchase', { amount: '1999.00', category: '软件' })).line).toBe('¥1999.00 · 软件')
    expect(describe(entry('tagged', { tag: 'VIP' }))).toEqual({ title: '添加标签', line: 'VIP' })
    expect(describe(entry('teleported', {}))).toEqual({ title: 'teleported', line: '' })
  })

  it('format instants to the minute, and leave nonsense alone', () => {
    expect(when('2026-12-01T01:30:00Z')).toMatch(/^2026-12-01 \d\d:30$/)
    expect(when('not a date')).toBe('not a date')
  })
})
