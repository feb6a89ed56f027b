import type { components } from '../api'

export type FollowUpView = components['schemas']['FollowUpView']
export type FollowUpType = components['schemas']['ActivityType']

export const FOLLOW_UP_TYPES: ReadonlyArray<{ code: FollowUpType; name: string }> = [
  { code: 'call', name: '电话' },
  { code: 'visit', name: '拜访' },
  { code: 'meeting', name: '会议' },
  { code: 'email', name: '邮件' },
]

export function typeName(code: string): string {
  return FOLLOW_UP_TYPES.find((t) => t.code === code)?.name ?? code
}

/** Reminder lead times offered (minutes before the due time). */
export const REMINDERS: ReadonlyArray<{ minutes: number; name: string }> = [
  { minutes: 0, name: '准时' },
  { minutes: 5, name: '提前 5 分钟' },
  { minutes: 15, name: '提前 15 分钟' },
  { minutes: 30, name: '提前 30 分钟' },
  { minutes: 60, name: '提前 1 小时' },
  { minutes: 1440, name: '提前 1 天' },
]

export const STATUS_NAME: Record<string, string> = { open: '待跟进', done: '已完成', cancelled: '已取消' }

/** What a notification is, in the inbox and its toast. */
export function notificationTitle(kind: string): string {
  return kind === 'follow_up_overdue' ? '跟进逾期' : '跟进提醒'
}
