import Taro from '@tarojs/taro'

import type { components } from './schema'

/** What a sign-in or a refresh answers. */
export type SessionAnswer = components['schemas']['Session']

/** The signed-in user's tokens, kept in the platform's storage. */
export interface StoredSession {
  accessToken: string
  refreshToken: string
  /** Epoch milliseconds when the access token stops working. */
  accessExpiresAt: number
  tenantId: string
  login: string
  role: SessionAnswer['role']
  mustChangePassword: boolean
}

const KEY = 'crm.session'
/** The last tenant id typed at sign-in, offered again next time. */
const TENANT_KEY = 'crm.lastTenantId'

export function toStoredSession(answer: SessionAnswer, now = Date.now()): StoredSession {
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    accessExpiresAt: now + answer.expires_in * 1000,
    tenantId: answer.tenant_id,
    login: answer.login,
    role: answer.role,
    mustChangePassword: answer.must_change_password,
  }
}

export function loadSession(): StoredSession | null {
  let raw: unknown
  try {
    raw = Taro.getStorageSync(KEY)
  } catch {
    return null
  }
  if (raw === null || typeof raw !== 'object') return null
  const s = raw as Partial<StoredSession>
  if (typeof s.accessToken !== 'string' || typeof s.refreshToken !== 'string') return null
  return s as StoredSession
}

export function saveSession(answer: SessionAnswer): StoredSession {
  const session = toStoredSession(answer)
  Taro.setStorageSync(KEY, session)
  Taro.setStorageSync(TENANT_KEY, session.tenantId)
  return session
}

export function clearSession(): void {
  try {
    Taro.removeStorageSync(KEY)
  } catch {
    // nothing kept: nothing to clear
  }
}

export function lastTenantId(): string {
  try {
    const value: unknown = Taro.getStorageSync(TENANT_KEY)
    return typeof value === 'string' ? value : ''
  } catch {
    return ''
  }
}
