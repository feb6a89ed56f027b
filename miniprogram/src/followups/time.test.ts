import { describe, expect, it } from 'vitest'

import {
  dueError,
  formatDateTime,
  formatDue,
  nextWholeHour,
  offsetAt,
  offsetFromDayStart,
  parseLocal,
  toRfc3339,
  zoneOf,
} from './time'

const shanghai = zoneOf('Asia/Shanghai', 480)
const berlin = zoneOf('Europe/Berlin', 60)
const newYork = zoneOf('America/New_York', -300)

describe('time zone arithmetic', () => {
  it('reads offsets from Intl, across daylight saving', () => {
    expect(offsetAt(shanghai, Date.parse('2026-07-01T00:00:00Z'))).toBe(480)
    expect(offsetAt(berlin, Date.parse('2026-01-15T12:00:00Z'))).toBe(60)
    expect(offsetAt(berlin, Date.parse('2026-07-15T12:00:00Z'))).toBe(120)
    expect(offsetAt(newYork, Date.parse('2026-07-15T12:00:00Z'))).toBe(-240)
  })

  it('falls back to the fixed offset for a zone Intl does not know', () => {
    expect(offsetAt(zoneOf('Nowhere/Atlantis', 330), Date.now())).toBe(330)
  })

  it('derives the offset from when the tenant day started', () => {
    expect(offsetFromDayStart('2026-12-07T16:00:00Z')).toBe(480)
    expect(offsetFromDayStart('2026-12-08T05:00:00Z')).toBe(-300)
    expect(offsetFromDayStart('2026-12-08T00:00:00Z')).toBe(0)
    expect(offsetFromDayStart('2026-12-07T18:30:00Z')).toBe(330)
    expect(offsetFromDayStart('nonsense')).toBeUndefined()
  })
})

describe('formatting due times in the tenant zone', () => {
  const now = Date.parse('2026-12-08T02:00:00Z') // 10:00 on Tuesday 8 December in Shanghai

  it('shows the wall clock of the zone, not of the phone', () => {
    expect(formatDateTime(shanghai, '2026-12-08T06:30:00Z')).toBe('2026-12-08 14:30')
    expect(formatDateTime(berlin, '2026-12-08T06:30:00Z')).toBe('2026-12-08 07:30')
    expect(formatDateTime(newYork, '2026-12-08T03:05:00Z')).toBe('2026-12-07 22:05')
  })

  it('says today, tomorrow and yesterday by the zone day', () => {
    expect(formatDue(shanghai, '2026-12-08T06:30:00Z', now)).toBe('今天 14:30')
    // 23:30 on the 8th in Shanghai is still today there although the UTC date says so too
    expect(formatDue(shanghai, '2026-12-08T15:30:00Z', now)).toBe('今天 23:30')
    // 00:30 on the 9th in Shanghai: tomorrow, though it is the 8th in UTC
    expect(formatDue(shanghai, '2026-12-08T16:30:00Z', now)).toBe('明天 00:30')
    expect(formatDue(shanghai, '2026-12-07T01:00:00Z', now)).toBe('昨天 09:00')
    expect(formatDue(shanghai, '2026-12-10T07:00:00Z', now)).toBe('12月10日 周四 15:00')
    expect(formatDue(shanghai, '2027-01-05T02:00:00Z', now)).toBe('2027年1月5日 10:00')
  })
})

describe('typed due times', () => {
  it('reads YYYY-MM-DD HH:MM as wall time in the zone', () => {
    expect(toRfc3339(parseLocal(shanghai, '2026-12-08 14:30')!)).toBe('2026-12-08T06:30:00Z')
    expect(toRfc3339(parseLocal(berlin, '2026-07-01 09:00')!)).toBe('2026-07-01T07:00:00Z')
    expect(toRfc3339(parseLocal(newYork, '2026-12-08 9:05')!)).toBe('2026-12-08T14:05:00Z')
  })

  it('refuses what is not a date and time', () => {
    expect(parseLocal(shanghai, '2026-02-30 10:00')).toBeUndefined()
    expect(parseLocal(shanghai, '2026-12-08 24:00')).toBeUndefined()
    expect(parseLocal(shanghai, '明天')).toBeUndefined()
  })

  it('checks the due time against now', () => {
    const now = Date.parse('2026-12-08T06:30:40Z') // 14:30:40 in Shanghai
    expect(dueError(shanghai, '', now)).toBe('必填')
    expect(dueError(shanghai, '12/08 14:30', now)).toMatch(/格式/)
    expect(dueError(shanghai, '2026-12-08 14:29', now)).toBe('不能早于现在')
    expect(dueError(shanghai, '2026-12-08 14:30', now)).toBeUndefined()
    expect(dueError(shanghai, '2029-12-08 14:30', now)).toBe('最多安排到两年以后')
  })

  it('offers the next whole hour in the zone', () => {
    expect(nextWholeHour(shanghai, Date.parse('2026-12-08T06:30:40Z'))).toBe('2026-12-08 15:00')
    expect(nextWholeHour(shanghai, Date.parse('2026-12-08T15:10:00Z'))).toBe('2026-12-09 00:00')
    expect(nextWholeHour(zoneOf('Asia/Kolkata', 330), Date.parse('2026-12-08T06:40:00Z'))).toBe('2026-12-08 13:00')
  })
})
