import { beforeEach, describe, expect, it, vi } from 'vitest'

// Taro.request and the storage API, mocked: the client runs as in the app.
const taro = vi.hoisted(() => {
  const storage = new Map<string, unknown>()
  return {
    storage,
    request: vi.fn(),
    getStorageSync: (key: string) => storage.get(key) ?? '',
    setStorageSync: (key: string, value: unknown) => void storage.set(key, value),
    removeStorageSync: (key: string) => void storage.delete(key),
  }
})
vi.mock('@tarojs/taro', () => ({ default: taro }))

import { createClient } from './client'
import { onUnauthorized } from './events'
import { NetworkError, ProblemError, describeError } from './problem'
import { loadSession, saveSession } from './session'

const BASE = 'http://svc.test'

type Answer = { statusCode: number; data?: unknown; header?: Record<string, string> }
type Sent = { url: string; method: string; data?: unknown; header: Record<string, string> }

const json = (statusCode: number, data: unknown): Answer => ({
  statusCode,
  data,
  header: { 'Content-Type': 'application/json' },
})
const problem = (status: number, detail: string, errors?: Record<string, string[]>): Answer => ({
  statusCode: status,
  data: {
    type: `https://crm.example/problems/${status}`,
    title: 'Problem',
    status,
    detail,
    ...(errors ? { errors } : {}),
  },
  header: { 'content-type': 'application/problem+json' },
})

function answerWith(...answers: Array<Answer | ((sent: Sent) => Answer | Promise<Answer>)>) {
  for (const answer of answers) {
    taro.request.mockImplementationOnce(async (sent: Sent) =>
      typeof answer === 'function' ? answer(sent) : answer,
    )
  }
}
const sent = (n: number) => taro.request.mock.calls[n]?.[0] as Sent

const session = (access: string, refresh: string) => ({
  access_token: access,
  token_type: 'Bearer',
  expires_in: 900,
  refresh_token: refresh,
  tenant_id: '11111111-1111-1111-1111-111111111111',
  login: 'rep1',
  role: 'rep' as const,
  must_change_password: false,
})

const page = { items: [], next_cursor: null }

describe('api client', () => {
  beforeEach(() => {
    taro.request.mockReset()
    taro.storage.clear()
  })

  it('sends the bearer token and encoded query, and returns the typed body', async () => {
    saveSession(session('access-1', 'refresh-1'))
    answerWith(json(200, page))
    const api = createClient({ baseUrl: BASE })

    const answer = await api.get('/v1/customers', { query: { q: '张三', stage: 'lead', cursor: undefined } })

    expect(answer).toEqual(page)
    expect(taro.request).toHaveBeenCalledTimes(1)
    expect(sent(0).url).toBe(`${BASE}/v1/customers?q=%E5%BC%A0%E4%B8%89&stage=lead`)
    expect(sent(0).method).toBe('GET')
    expect(sent(0).header.Authorization).toBe('Bearer access-1')
  })

  it('fills path parameters and posts JSON bodies', async () => {
    answerWith(json(200, session('a', 'r')))
    const api = createClient({ baseUrl: BASE })
    const body = { tenant_id: '11111111-1111-1111-1111-111111111111', login: 'rep1', password: 'pw' }

    const answer = await api.post('/v1/auth/login', { body })

    expect(answer.access_token).toBe('a')
    expect(sent(0).url).toBe(`${BASE}/v1/auth/login`)
    expect(sent(0).method).toBe('POST')
    expect(sent(0).data).toEqual(body)
    expect(sent(0).header['Content-Type']).toBe('application/json')
    expect(sent(0).header.Authorization).toBeUndefined()

    saveSession(session('a', 'r'))
    answerWith(json(200, { id: 'x' }))
    await api.get('/v1/customers/{id}', { path: { id: 'a b/c' } })
    expect(sent(1).url).toBe(`${BASE}/v1/customers/a%20b%2Fc`)
  })

  it('turns a problem with field errors into a ProblemError', async () => {
    saveSession(session('access-1', 'refresh-1'))
    answerWith(problem(422, 'owner_id: not a valid user id', { owner_id: ['not a valid user id'] }))
    const api = createClient({ baseUrl: BASE })

    const error = await api
      .put('/v1/customers/{id}/owner', { path: { id: 'c1' }, body: { owner_id: '' } })
      .catch((e: unknown) => e)

    expect(error).toBeInstanceOf(ProblemError)
    const p = error as ProblemError
    expect(p.status).toBe(422)
    expect(p.detail).toBe('owner_id: not a valid user id')
    expect(p.fieldErrors).toEqual({ owner_id: ['not a valid user id'] })
    expect(p.fieldError('owner_id')).toBe('not a valid user id')
    expect(p.fieldError('name')).toBeUndefined()
    expect(describeError(p).message).toBe('填写的内容有误')
  })

  it('parses a problem the platform left as text, and reads Retry-After', async () => {
    answerWith({
      statusCode: 429,
      data: JSON.stringify(problem(429, 'too many sign-in attempts; retry in 60 s').data),
      header: { 'Retry-After': '60' },
    })
    const api = createClient({ baseUrl: BASE })

    const error = (await api
      .post('/v1/auth/login', { body: { tenant_id: 't', login: 'l', password: 'p' } })
      .catch((e: unknown) => e)) as ProblemError

    expect(error).toBeInstanceOf(ProblemError)
    expect(error.status).toBe(429)
    expect(error.retryAfter).toBe(60)
    expect(error.fieldErrors).toEqual({})
    expect(describeError(error).message).toContain('60 秒')
  })

  it('reads an error answer that is not a problem (a gateway page) as one', async () => {
    saveSession(session('access-1', 'refresh-1'))
    answerWith({ statusCode: 502, data: '<html>Bad Gateway</html>', header: { 'content-type': 'text/html' } })
    const api = createClient({ baseUrl: BASE })

    const error = (await api.get('/v1/me').catch((e: unknown) => e)) as ProblemError

    expect(error).toBeInstanceOf(ProblemError)
    expect(error.status).toBe(502)
    expect(error.detail).toContain('Bad Gateway')
  })

  it('a wrong password is a 401 answer, not an expired session', async () => {
    const ended = vi.fn()
    const off = onUnauthorized(ended)
    answerWith(problem(401, 'the tenant, login or password is not right'))
    const api = createClient({ baseUrl: BASE })

    const error = (await api
      .post('/v1/auth/login', { body: { tenant_id: 't', login: 'l', password: 'wrong' } })
      .catch((e: unknown) => e)) as ProblemError
    off()

    expect(error).toBeInstanceOf(ProblemError)
    expect(error.detail).toBe('the tenant, login or password is not right')
    expect(taro.request).toHaveBeenCalledTimes(1)
    expect(ended).not.toHaveBeenCalled()
  })

  it('on 401 exchanges the refresh token once and repeats the call', async () => {
    const ended = vi.fn()
    const off = onUnauthorized(ended)
    saveSession(session('old-access', 'refresh-1'))
    answerWith(
      problem(401, 'token expired'),
      json(200, session('new-access', 'refresh-2')),
      (s) => (s.header.Authorization === 'Bearer new-access' ? json(200, page) : problem(401, 'x')),
    )
    const api = createClient({ baseUrl: BASE })

    const answer = await api.get('/v1/customers')
    off()

    expect(answer).toEqual(page)
    expect(taro.request).toHaveBeenCalledTimes(3)
    expect(sent(1).url).toBe(`${BASE}/v1/auth/refresh`)
    expect(sent(1).data).toEqual({ refresh_token: 'refresh-1' })
    expect(sent(1).header.Authorization).toBeUndefined()
    expect(loadSession()?.accessToken).toBe('new-access')
    expect(loadSession()?.refreshToken).toBe('refresh-2')
    expect(ended).not.toHaveBeenCalled()
  })

  it('shares one refresh between concurrent 401s (a refresh token works once)', async () => {
    saveSession(session('old-access', 'refresh-1'))
    let refreshes = 0
    taro.request.mockImplementation(async (s: Sent) => {
      if (s.url.endsWith('/v1/auth/refresh')) {
        refreshes += 1
        await new Promise((resolve) => setTimeout(resolve, 5))
        return json(200, session('new-access', 'refresh-2'))
      }
      return s.header.Authorization === 'Bearer new-access' ? json(200, page) : problem(401, 'expired')
    })
    const api = createClient({ baseUrl: BASE })

    const answers = await Promise.all([api.get('/v1/customers'), api.get('/v1/me'), api.get('/v1/funnel')])

    expect(answers).toHaveLength(3)
    expect(refreshes).toBe(1)
  })

  it('a 401 arriving after another call renewed the pair retries without a second refresh', async () => {
    saveSession(session('old-access', 'refresh-1'))
    let refreshes = 0
    let releaseSlow: () => void = () => undefined
    const slowAnswered = new Promise<void>((resolve) => (releaseSlow = resolve))
    taro.request.mockImplementation(async (s: Sent) => {
      if (s.url.endsWith('/v1/auth/refresh')) {
        refreshes += 1
        return json(200, session(`new-access-${refreshes}`, `refresh-${refreshes + 1}`))
      }
      if (s.header.Authorization === 'Bearer old-access' && s.url.endsWith('/v1/me')) {
        await slowAnswered // answers its 401 only after the other call's refresh
        return problem(401, 'expired')
      }
      return s.header.Authorization === 'Bearer old-access' ? problem(401, 'expired') : json(200, page)
    })
    const api = createClient({ baseUrl: BASE })

    const slow = api.get('/v1/me')
    await api.get('/v1/customers')
    releaseSlow()
    await slow

    expect(refreshes).toBe(1)
    expect(loadSession()?.accessToken).toBe('new-access-1')
  })

  it('when the refresh is refused too: clears the session, tells the app, throws the 401', async () => {
    const ended = vi.fn()
    const off = onUnauthorized(ended)
    saveSession(session('old-access', 'refresh-1'))
    answerWith(problem(401, 'token expired'), problem(401, 'the refresh token is not valid; sign in again'))
    const api = createClient({ baseUrl: BASE })

    const error = (await api.get('/v1/customers').catch((e: unknown) => e)) as ProblemError
    off()

    expect(error).toBeInstanceOf(ProblemError)
    expect(error.status).toBe(401)
    expect(taro.request).toHaveBeenCalledTimes(2)
    expect(loadSession()).toBeNull()
    expect(ended).toHaveBeenCalledTimes(1)
  })

  it('a 401 without any session goes back to sign-in without a refresh', async () => {
    const ended = vi.fn()
    const off = onUnauthorized(ended)
    answerWith(problem(401, 'missing bearer token'))
    const api = createClient({ baseUrl: BASE })

    await expect(api.get('/v1/customers')).rejects.toBeInstanceOf(ProblemError)
    off()

    expect(taro.request).toHaveBeenCalledTimes(1)
    expect(ended).toHaveBeenCalledTimes(1)
  })

  it('a network failure is a NetworkError and keeps the session', async () => {
    saveSession(session('access-1', 'refresh-1'))
    taro.request.mockRejectedValueOnce({ errMsg: 'request:fail timeout' })
    const api = createClient({ baseUrl: BASE })

    const error = await api.get('/v1/customers').catch((e: unknown) => e)

    expect(error).toBeInstanceOf(NetworkError)
    expect((error as NetworkError).message).toBe('request:fail timeout')
    expect(describeError(error).message).toBe('网络连接失败，请检查网络后重试')
    expect(loadSession()?.accessToken).toBe('access-1')
  })

  it('a network failure during the refresh keeps the session (offline is not signed out)', async () => {
    const ended = vi.fn()
    const off = onUnauthorized(ended)
    saveSession(session('old-access', 'refresh-1'))
    answerWith(problem(401, 'token expired'))
    taro.request.mockRejectedValueOnce(new TypeError('Failed to fetch'))
    const api = createClient({ baseUrl: BASE })

    await expect(api.get('/v1/customers')).rejects.toBeInstanceOf(NetworkError)
    off()

    expect(loadSession()?.refreshToken).toBe('refresh-1')
    expect(ended).not.toHaveBeenCalled()
  })
})
