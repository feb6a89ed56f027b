export { api, createClient, defaultBaseUrl, fillPath, queryString, type Client } from './client'
export { onUnauthorized } from './events'
export { describeError, isProblem, NetworkError, ProblemError, type FieldErrors } from './problem'
export { clearSession, lastTenantId, loadSession, saveSession, type StoredSession } from './session'
export type { components, paths } from './schema'

import type { components } from './schema'

export type CustomerSummary = components['schemas']['CustomerSummary']
export type CustomerDetail = components['schemas']['CustomerDetail']
export type CustomerPage = components['schemas']['CustomerPage']
export type Stage = components['schemas']['Stage']
export {
  isRetryable,
  keepSending,
  outbox,
  type Accepted,
  type Command,
  type Outcome,
  type QueuedCommand,
} from './outbox'
