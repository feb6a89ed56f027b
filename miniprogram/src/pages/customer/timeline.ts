import type { components } from '../../api'
import { stageInfo } from '../../stages'

export type TimelineEntry = components['schemas']['TimelineEntry']

const ACTIVITY: Record<string, string> = {
  visit: '拜访',
  call: '电话',
  email: '邮件',
  meeting: '会议',
}

const KIND: Record<string, string> = {
  registered: '登记客户',
  profile_updated: '更新资料',
  owner_changed: '更换负责人',
  stage_moved: '阶段变更',
  activity: '跟进',
  purchase: '购买',
  tagged: '添加标签',
  untagged: '移除标签',
  archived: '归档',
  forgotten: '删除个人信息',
}

function text(details: Record<string, unknown>, key: string): string | undefined {
  const value = details[key]
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** What a timeline entry says, in a title and one line (both in Chinese). */
export function describe(entry: TimelineEntry): { title: string; line: string } {
  const details = (entry.details ?? {}) as Record<string, unknown>
  switch (entry.kind) {
    case 'activity': {
      const kind = ACTIVITY[text(details, 'type') ?? ''] ?? '跟进'
      return { title: kind, line: text(details, 'subject') ?? '' }
    }
    case 'stage_moved': {
      const from = stageInfo(text(details, 'from') ?? '').name
      const to = stageInfo(text(details, 'to') ?? '').name
      const reason = text(details, 'reason')
      return { title: KIND.stage_moved ?? '', line: `${from} → ${to}${reason ? `（${reason}）` : ''}` }
    }
    case 'purchase': {
      const amount = text(details, 'amount') ?? ''
      const category = text(details, 'category')
      return { title: KIND.purchase ?? '', line: `¥${amount}${category ? ` · ${category}` : ''}` }
    }
    case 'owner_changed':
      return { title: KIND.owner_changed ?? '', line: text(details, 'owner_id') ?? '' }
    case 'tagged':
    case 'untagged':
      return { title: KIND[entry.kind] ?? '', line: text(details, 'tag') ?? '' }
    case 'archived':
      return { title: KIND.archived ?? '', line: text(details, 'reason') ?? '' }
    default:
      return { title: KIND[entry.kind] ?? entry.kind, line: '' }
  }
}

/** `2026-12-01 09:30` in the device's time zone. */
export function when(instant: string): string {
  const date = new Date(instant)
  if (Number.isNaN(date.getTime())) return instant
  const two = (n: number) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}`
}
