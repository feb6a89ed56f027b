import { useEffect, useState } from 'react'

import { api, loadSession } from '../api'
import { offsetFromDayStart, zoneOf, type Zone } from './time'

let cached: { tenant: string; zone: Promise<Zone> } | null = null

/** The tenant's time zone (GET /v1/tenant/settings), read once per tenant. */
export function tenantZone(): Promise<Zone> {
  const tenant = loadSession()?.tenantId ?? ''
  if (cached === null || cached.tenant !== tenant) {
    const zone = api.get('/v1/tenant/settings').then((s) => zoneOf(s.time_zone))
    zone.catch(() => {
      if (cached?.zone === zone) cached = null // try again next time
    })
    cached = { tenant, zone }
  }
  return cached.zone
}

/**
 * What the counts say about the zone (`time_zone`, `today_starts_at`): the
 * fallback offset for platforms whose Intl cannot do time zones.
 */
export function zoneFromCounts(counts: { time_zone: string; today_starts_at: string }): Zone {
  const offset = offsetFromDayStart(counts.today_starts_at)
  return offset === undefined ? zoneOf(counts.time_zone) : zoneOf(counts.time_zone, offset)
}

function phoneTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone
  } catch {
    return 'UTC' // with the phone's own offset as the fallback
  }
}

/** The tenant's zone for a screen; null while it loads (or if it cannot be read: then the phone's). */
export function useZone(): Zone | null {
  const [zone, setZone] = useState<Zone | null>(null)
  useEffect(() => {
    let live = true
    tenantZone().then(
      (z) => live && setZone(z),
      () => live && setZone(zoneOf(phoneTimeZone())),
    )
    return () => {
      live = false
    }
  }, [])
  return zone
}
