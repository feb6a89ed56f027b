/**
 * A small typed client of the service over `Taro.request` (WeChat's
 * wx.request in the weapp build, fetch in the H5 build).
 *
 *   const page = await api.get('/v1/customers', { query: { q: '张三' } })
 *   const one = await api.get('/v1/customers/{id}', { path: { id } })
 *
 * Error answers throw a ProblemError (application/problem+json, with its
 * field errors); no answer at all throws a NetworkError. A 401 on a call
 * made with a token exchanges the refresh token once and repeats the call;
 * when that fails too, the session is cleared and onUnauthorized listeners
 * run (the app goes back to sign-in).
 */
import Taro from '@tarojs/taro'

import { emitUnauthorized } from './events'
import { isProblem, NetworkError, ProblemError } from './problem'
import type { paths } from './schema'
import {
  clearSession,
  loadSession,
  saveSession,
  type SessionAnswer,
  type StoredSession,
} from './session'
import type { Method, Operation, OptionsArg, PathsWith, RequestOptions, SuccessBody } from './types'

/** Routes that take no bearer token and whose 401 is an answer, not an expired session. */
const ANONYMOUS: ReadonlySet<string> = new Set([
  '/v1/auth/login',
  '/v1/auth/refresh',
  '/v1/auth/logout',
  '/v1/auth/wechat',
])

const TIMEOUT_MS = 15_000

/**
 * The service's base URL: same origin in the H5 build (the service serves it
 * at /app/), TARO_APP_API_BASE from the .env files in the weapp build.
 */
export function defaultBaseUrl(): string {
  if (process.env.TARO_ENV === 'h5') return ''
  return (process.env.TARO_APP_API_BASE ?? '').replace(/\/+$/, '')
}

type Query = Record<string, string | number | boolean | null | undefined>

/** `a=1&b=%E5%BC%A0` from the defined values, in the given order. */
export function queryString(query: Query | undefined): string {
  if (query === undefined) return ''
  const parts: string[] = []
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
  }
  return parts.length > 0 ? `?${parts.join('&')}` : ''
}

/** `/v1/customers/{id}` with `{ id }` filled in (each value URI-encoded). */
export function fillPath(
  template: string,
  params: Record<string, string | number | boolean> | undefined,
): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name]
    if (value === undefined) throw new Error(`missing path parameter ${name} for ${template}`)
    return encodeURIComponent(String(value))
  })
}

function header(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined
  const wanted = name.toLowerCase()
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return typeof value === 'string' ? value : String(value)
  }
  return undefined
}

/** The answer body: parsed JSON where the platform left a string. */
function parsedBody(data: unknown): unknown {
  if (typeof data !== 'string') return data
  if (data.trim() === '') return undefined
  try {
    return JSON.parse(data) as unknown
  } catch {
    return data
  }
}

function problemFrom(status: number, data: unknown, headers: Record<string, unknown> | undefined) {
  const retry = Number(header(headers, 'retry-after'))
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined
  if (isProblem(data)) return new ProblemError(data, retryAfter)
  // Not the service's own error (a proxy, a gateway): read it as a problem all the same.
  return new ProblemError(
    {
      type: 'about:blank',
      title: `HTTP ${status}`,
      status,
      detail: typeof data === 'string' ? data.slice(0, 200) : '',
    },
    retryAfter,
  )
}

interface Raw {
  status: number
  data: unknown
  headers: Record<string, unknown> | undefined
}

async function send(
  url: string,
  method: Method,
  body: unknown,
  headers: Record<string, string>,
): Promise<Raw> {
  let answer: { statusCode: number; data: unknown; header: unknown }
  try {
    answer = await Taro.request({
      url,
      method: method.toUpperCase() as keyof Taro.request.Method,
      data: body,
      header: headers,
      dataType: 'json',
      timeout: TIMEOUT_MS,
    })
  } catch (error) {
    const message =
      error !== null && typeof error === 'object' && 'errMsg' in error
        ? String(error.errMsg)
        : error instanceof Error
          ? error.message
          : String(error)
    throw new NetworkError(message)
  }
  return {
    status: answer.statusCode,
    data: parsedBody(answer.data),
    headers: answer.header as Record<string, unknown> | undefined,
  }
}

export interface ClientOptions {
  /** Prefix of every URL; default: defaultBaseUrl(). */
  baseUrl?: string
}

export interface Client {
  get<P extends PathsWith<'get'>>(
    path: P,
    ...options: OptionsArg<Operation<P, 'get'>>
  ): Promise<SuccessBody<Operation<P, 'get'>>>
  post<P extends PathsWith<'post'>>(
    path: P,
    ...options: OptionsArg<Operation<P, 'post'>>
  ): Promise<SuccessBody<Operation<P, 'post'>>>
  put<P extends PathsWith<'put'>>(
    path: P,
    ...options: OptionsArg<Operation<P, 'put'>>
  ): Promise<SuccessBody<Operation<P, 'put'>>>
  patch<P extends PathsWith<'patch'>>(
    path: P,
    ...options: OptionsArg<Operation<P, 'patch'>>
  ): Promise<SuccessBody<Operation<P, 'patch'>>>
  delete<P extends PathsWith<'delete'>>(
    path: P,
    ...options: OptionsArg<Operation<P, 'delete'>>
  ): Promise<SuccessBody<Operation<P, 'delete'>>>
}

export function createClient(options: ClientOptions = {}): Client {
  const baseUrl = options.baseUrl ?? defaultBaseUrl()
  /** One refresh at a time: concurrent 401s wait for the same exchange. */
  let refreshing: Promise<StoredSession | null> | null = null

  /** Exchanges the refresh token; null when the service refuses it. */
  async function refresh(session: StoredSession): Promise<StoredSession | null> {
    const raw = await send(
      `${baseUrl}/v1/auth/refresh`,
      'post',
      { refresh_token: session.refreshToken },
      { 'Content-Type': 'application/json', Accept: 'application/json' },
    )
    if (raw.status === 200) return saveSession(raw.data as SessionAnswer)
    if (raw.status === 400 || raw.status === 401) return null
    throw problemFrom(raw.status, raw.data, raw.headers)
  }

  function refreshOnce(session: StoredSession): Promise<StoredSession | null> {
    refreshing ??= refresh(session).finally(() => {
      refreshing = null
    })
    return refreshing
  }

  async function call(method: Method, template: string, opts: RequestOptions<unknown> = {}) {
    const o = opts as {
      path?: Record<string, string | number | boolean>
      query?: Query
      body?: unknown
      headers?: Record<string, string>
    }
    const url = `${baseUrl}${fillPath(template, o.path)}${queryString(o.query)}`
    const anonymous = ANONYMOUS.has(template)
    const headers: Record<string, string> = { Accept: 'application/json', ...o.headers }
    if (o.body !== undefined) headers['Content-Type'] = 'application/json'

    const attempt = (session: StoredSession | null) =>
      send(
        url,
        method,
        o.body,
        session !== null && !anonymous
          ? { ...headers, Authorization: `Bearer ${session.accessToken}` }
          : headers,
      )

    const session = anonymous ? null : loadSession()
    let raw = await attempt(session)

    if (raw.status === 401 && !anonymous) {
      // Another call may have renewed the pair meanwhile: use it rather than
      // spend the old refresh token again (the service revokes a reused one).
      const current = loadSession()
      const renewed =
        current === null
          ? null
          : session !== null && current.accessToken !== session.accessToken
            ? current
            : await refreshOnce(current)
      if (renewed !== null) raw = await attempt(renewed)
      if (renewed === null || raw.status === 401) {
        clearSession()
        emitUnauthorized()
      }
    }

    if (raw.status >= 200 && raw.status < 300) {
      return raw.status === 204 ? undefined : raw.data
    }
    throw problemFrom(raw.status, raw.data, raw.headers)
  }

  const bind =
    (method: Method) =>
    (path: string, ...rest: unknown[]) =>
      call(method, path, rest[0] as RequestOptions<unknown> | undefined)

  return {
    get: bind('get'),
    post: bind('post'),
    put: bind('put'),
    patch: bind('patch'),
    delete: bind('delete'),
  } as Client
}

/** The app's client. */
export const api = createClient()

export type { paths }
