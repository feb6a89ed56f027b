/**
 * Times of follow-ups in the tenant's time zone (GET /v1/tenant/settings),
 * not the phone's: "today" is the tenant's day. Intl.DateTimeFormat with
 * `timeZone` does the zone arithmetic; where a platform lacks it, a fixed
 * offset (the one the counts' `today_starts_at` implies) stands in.
 */

export interface Zone {
  /** IANA name, e.g. Asia/Shanghai. */
  timeZone: string
  /** Minutes east of UTC, used only where Intl cannot answer for `timeZone`. */
  fallbackOffset: number
}

const MINUTE = 60_000
const DAY_MINUTES = 24 * 60

/** A zone by name; the fallback offset is the phone's own unless given. */
export function zoneOf(timeZone: string, fallbackOffset = -new Date().getTimezoneOffset()): Zone {
  return { timeZone, fallbackOffset }
}

/**
 * The offset (minutes east of UTC) that makes `todayStartsAt` a local
 * midnight: +480 for 16:00Z (Asia/Shanghai), −300 for 05:00Z (New York).
 */
export function offsetFromDayStart(todayStartsAt: string): number | undefined {
  const t = Date.parse(todayStartsAt)
  if (Number.isNaN(t)) return undefined
  const minutes = Math.floor(t / MINUTE) % DAY_MINUTES
  const offset = (DAY_MINUTES - ((minutes + DAY_MINUTES) % DAY_MINUTES)) % DAY_MINUTES
  return offset > 14 * 60 ? offset - DAY_MINUTES : offset
}

const formatters = new Map<string, Intl.DateTimeFormat | null>()

function formatter(timeZone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
    } catch {
      f = null
    }
    formatters.set(timeZone, f)
  }
  return f
}

/** The zone's offset from UTC at `instant` (epoch ms), in minutes. */
export function offsetAt(zone: Zone, instant: number): number {
  const f = formatter(zone.timeZone)
  if (f === null || typeof f.formatToParts !== 'function') return zone.fallbackOffset
  const parts: Record<string, number> = {}
  for (const p of f.formatToParts(new Date(instant))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value)
  }
  const { year = NaN, month = NaN, day = NaN, hour = NaN, minute = NaN, second = NaN } = parts
  if ([year, month, day, hour, minute, second].some((n) => Number.isNaN(n))) return zone.fallbackOffset
  const wall = Date.UTC(year, month - 1, day, hour % 24, minute, second)
  return Math.round((wall - Math.floor(instant / 1000) * 1000) / MINUTE)
}

/** The wall clock in the zone at `instant`. */
export interface Wall {
  year: number
  month: number // 1–12
  day: number
  hour: number
  minute: number
  /** 0 Sunday … 6 Saturday */
  weekday: number
  /** Days since 1970-01-01 of that local date: compares calendar days. */
  dayNumber: number
}

export function wallClock(zone: Zone, instant: number): Wall {
  const shifted = new Date(instant + offsetAt(zone, instant) * MINUTE)
  return {
    year: shifted.getUTCFullYear(),
    month: shifted.getUTCMonth() + 1,
    day: shifted.getUTCDate(),
    hour: shifted.getUTCHours(),
    minute: shifted.getUTCMinutes(),
    weekday: shifted.getUTCDay(),
    dayNumber: Math.floor(shifted.getTime() / (DAY_MINUTES * MINUTE)),
  }
}

const two = (n: number) => String(n).padStart(2, '0')
const WEEKDAYS = ['周日', '周一', '周二', '周三', '周四', '周五', '周六']

/** `2026-12-08 14:30` in the zone. */
export function formatDateTime(zone: Zone, instant: string | number): string {
  const t = typeof instant === 'number' ? instant : Date.parse(instant)
  if (Number.isNaN(t)) return String(instant)
  const w = wallClock(zone, t)
  return `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}`
}

/**
 * A due time as a person reads it, relative to `now` in the zone:
 * `今天 14:30`, `明天 09:00`, `昨天 18:00`, `12月10日 周四 15:00`,
 * `2027年1月5日 10:00` (another year).
 */
export function formatDue(zone: Zone, dueAt: string, now: number = Date.now()): string {
  const t = Date.parse(dueAt)
  if (Number.isNaN(t)) return dueAt
  const w = wallClock(zone, t)
  const today = wallClock(zone, now)
  const time = `${two(w.hour)}:${two(w.minute)}`
  const days = w.dayNumber - today.dayNumber
  if (days === 0) return `今天 ${time}`
  if (days === 1) return `明天 ${time}`
  if (days === -1) return `昨天 ${time}`
  if (w.year !== today.year) return `${w.year}年${w.month}月${w.day}日 ${time}`
  return `${w.month}月${w.day}日 ${WEEKDAYS[w.weekday] ?? ''} ${time}`
}

/**
 * `YYYY-MM-DD HH:MM` typed by a person, as wall time in the zone → the
 * instant (epoch ms); undefined when it is not such a date and time.
 */
export function parseLocal(zone: Zone, text: string): number | undefined {
  const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\d{1,2}):(\d{2})\s*$/.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute] = m.slice(1).map(Number) as [number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return undefined
  const wall = Date.UTC(year, month - 1, day, hour, minute)
  const check = new Date(wall)
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined // 2月30日
  // The offset at the guess, then at the result (they differ only next to a DST change).
  let instant = wall - offsetAt(zone, wall) * MINUTE
  instant = wall - offsetAt(zone, instant) * MINUTE
  return instant
}

/** RFC 3339 in UTC, to the second: what the service takes as `due_at`. */
export function toRfc3339(instant: number): string {
  return new Date(Math.floor(instant / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

/** The form's rule for a due time: a date and time, not in the past, at most two years ahead. */
export function dueError(zone: Zone, text: string, now: number = Date.now()): string | undefined {
  if (text.trim() === '') return '必填'
  const instant = parseLocal(zone, text)
  if (instant === undefined) return '请按 2026-12-08 14:30 的格式填写日期和时间'
  // the minute typed counts: 14:30 is still fine at 14:30:40
  if (instant + MINUTE <= now) return '不能早于现在'
  if (instant > now + 2 * 366 * DAY_MINUTES * MINUTE) return '最多安排到两年以后'
  return undefined
}

/** A due time to offer: the next whole hour in the zone (`YYYY-MM-DD HH:00`). */
export function nextWholeHour(zone: Zone, now: number = Date.now()): string {
  const hour = 60 * MINUTE
  const offset = offsetAt(zone, now) * MINUTE
  const next = Math.floor((now + offset) / hour) * hour + hour - offset
  return formatDateTime(zone, next)
}
