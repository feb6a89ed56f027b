import type { Stage } from '../../api'

/** Open stages move forward and back freely; a closed deal reopens only to these. */
const REOPEN_TO: readonly Stage[] = ['lead', 'qualified']

export function isClosed(stage: string): boolean {
  return stage === 'closed_won' || stage === 'closed_lost'
}

/** The stages a card in `from` may move to, in funnel order (the service's rule). */
export function targetStages(from: Stage, all: readonly Stage[]): Stage[] {
  return all.filter((s) => s !== from && (!isClosed(from) || REOPEN_TO.includes(s)))
}

/** Reopening a closed deal needs a reason; closing as lost asks for one (optional). */
export function reasonNeed(from: string, to: string): 'required' | 'optional' | 'none' {
  if (isClosed(from) && !isClosed(to)) return 'required'
  if (to === 'closed_lost') return 'optional'
  return 'none'
}

/** `0.4567` → `46%`; null (closed stages) → `—`. */
export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—'
  return `${Math.round(rate * 100)}%`
}

/** A decimal amount from the service (`"123456.78"`) in yuan, 万 from ten thousand up. */
export function money(amount: string | number): string {
  const value = typeof amount === 'number' ? amount : Number(amount)
  if (!Number.isFinite(value)) return '—'
  if (Math.abs(value) >= 10_000) {
    const wan = value / 10_000
    return `¥${wan >= 100 ? Math.round(wan).toString() : wan.toFixed(1).replace(/\.0$/, '')}万`
  }
  return `¥${Math.round(value).toString()}`
}

/** Mean days in the stage, one decimal; `—` when no stay has completed. */
export function days(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  return `${value.toFixed(1).replace(/\.0$/, '')} 天`
}

export type Period = 'month' | 'quarter' | 'all'

export const PERIODS: ReadonlyArray<{ code: Period; name: string }> = [
  { code: 'all', name: '全部' },
  { code: 'month', name: '本月' },
  { code: 'quarter', name: '本季度' },
]

/** The `from` of a period (local time, as RFC 3339); undefined for 全部. */
export function periodFrom(period: Period, now = new Date()): string | undefined {
  if (period === 'all') return undefined
  const month = period === 'month' ? now.getMonth() : now.getMonth() - (now.getMonth() % 3)
  return new Date(now.getFullYear(), month, 1).toISOString()
}

/** A random v4 UUID: crypto's when the platform has it (browsers), else Math.random (WeChat). */
export function randomUuid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (c?.randomUUID !== undefined) return c.randomUUID()
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (ch) => {
    const r = Math.floor(Math.random() * 16)
    return (ch === 'x' ? r : (r & 0x3) | 0x8).toString(16)
  })
}
