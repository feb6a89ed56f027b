import { beforeEach, describe, expect, it, vi } from 'vitest'

// Taro.request and the storage API, mocked: the outbox and the client run as in the app.
const taro = vi.hoisted(() => {
  const storage = new Map<string, unknown>()
  return {
    storage,
    request: vi.fn(),
    getStorageSync: (key: string) => storage.get(key) ?? '',
    setStorageSync: (key: string, value: unknown) => void storage.set(key, structuredClone(value)),
    removeStorageSync: (key: string) => void storage.delete(key),
  }
})
vi.mock('@tarojs/taro', () => ({ default: taro }))

import { createClient } from './client'
import { createOutbox, newIdempotencyKey } from './outbox'
import { ProblemError } from './problem'
import { saveSession } from './session'

type Sent = { url: string; method: string; data?: unknown; header: Record<string, string> }
const sent = (n: number) => taro.request.mock.calls[n]?.[0] as Sent

const accepted = (version: number, position: number) => ({
  statusCode: 200,
  data: { id: 'c1', version, position },
  header: {},
})
// what Taro.request rejects with when no answer came (an object with errMsg, not an Error)
const noAnswer = () =>
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
  Promise.reject({ errMsg: 'request:fail net::ERR_INTERNET_DISCONNECTED' })
const problem = (status: number) => ({
  statusCode: status,
  data: { type: 'about:blank', title: 'x', status, detail: 'refused', errors: { type: ['bad'] } },
  header: {},
})

function signIn(login = 'rep1') {
  saveSession({
    access_token: `access-${login}`,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: `refresh-${login}`,
    tenant_id: '11111111-1111-1111-1111-111111111111',
    login,
    role: 'rep',
    must_change_password: false,
  })
}

let keys = 0
function outbox() {
  return createOutbox({
    client: createClient({ baseUrl: 'http://svc.test' }),
    newKey: () => `key-${++keys}`,
  })
}

const activity = (subject: string) => ({
  method: 'post' as const,
  path: '/v1/customers/{id}/activities',
  params: { id: 'c1' },
  body: { type: 'call', subject },
  label: '记录跟进',
  customerId: 'c1',
})

describe('outbox', () => {
  beforeEach(() => {
    taro.request.mockReset()
    taro.storage.clear()
    keys = 0
    signIn()
  })

  it('sends at once with a fresh Idempotency-Key and If-Match when given', async () => {
    taro.request.mockResolvedValueOnce(accepted(4, 40))
    const box = outbox()

    const outcome = await box.issue({ ...activity('a'), method: 'post', ifMatch: 3 })

    expect(outcome.status).toBe('sent')
    expect(outcome.status === 'sent' && outcome.answer.position).toBe(40)
    expect(sent(0).url).toBe('http://svc.test/v1/customers/c1/activities')
    expect(sent(0).header['Idempotency-Key']).toBe('key-1')
    expect(sent(0).header['If-Match']).toBe('"3"')
    expect(box.pending()).toEqual([])
  })

  it('keeps a command that got no answer and sends it later with the same key, once', async () => {
    taro.request.mockImplementationOnce(noAnswer)
    const box = outbox()

    const outcome = await box.issue(activity('offline'))
    expect(outcome.status).toBe('queued')
    expect(box.pending()).toHaveLength(1)

    // still offline: kept, attempt counted
    taro.request.mockImplementationOnce(noAnswer)
    expect(await box.flush()).toBe(0)
    expect(box.pending()[0]?.attempts).toBe(2)

    taro.request.mockResolvedValueOnce(accepted(5, 50))
    expect(await box.flush()).toBe(1)
    expect(box.pending()).toEqual([])
    expect(taro.request).toHaveBeenCalledTimes(3)
    const keysSent = [0, 1, 2].map((n) => sent(n).header['Idempotency-Key'])
    expect(new Set(keysSent)).toEqual(new Set(['key-1']))
    expect(sent(2).data).toEqual({ type: 'call', subject: 'offline' })
  })

  it('survives a restart: the queue is in storage', async () => {
    taro.request.mockImplementationOnce(noAnswer)
    await outbox().issue(activity('before restart'))

    taro.request.mockResolvedValueOnce(accepted(2, 20))
    const afterRestart = outbox()
    expect(afterRestart.pending()).toHaveLength(1)
    expect(await afterRestart.flush()).toBe(1)
    expect(sent(1).header['Idempotency-Key']).toBe('key-1')
  })

  it('treats 503, 502, 504 and 429 as no answer, but throws a refusal', async () => {
    for (const status of [503, 502, 504, 429]) {
      taro.storage.delete('crm.outbox')
      taro.request.mockResolvedValueOnce(problem(status))
      expect((await outbox().issue(activity(String(status)))).status).toBe('queued')
    }
    taro.storage.delete('crm.outbox')
    taro.request.mockResolvedValueOnce(problem(422))
    const box = outbox()
    await expect(box.issue(activity('bad'))).rejects.toBeInstanceOf(ProblemError)
    expect(box.pending()).toEqual([])
  })

  it('keeps order: a new command waits behind what is queued', async () => {
    taro.request.mockImplementationOnce(noAnswer)
    const box = outbox()
    await box.issue(activity('first'))

    taro.request.mockResolvedValueOnce(accepted(2, 20)).mockResolvedValueOnce(accepted(3, 30))
    const second = await box.issue(activity('second'))

    expect(second.status).toBe('sent')
    expect(second.status === 'sent' && second.answer.position).toBe(30)
    expect((sent(1).data as { subject: string }).subject).toBe('first')
    expect((sent(2).data as { subject: string }).subject).toBe('second')
  })

  it('drops a queued command the service refuses and tells the listeners', async () => {
    taro.request.mockImplementationOnce(noAnswer)
    const box = outbox()
    await box.issue(activity('will be refused'))
    const refused = vi.fn<(refusal: { error: ProblemError }) => void>()
    box.onRefused(refused)

    taro.request.mockResolvedValueOnce(problem(404))
    expect(await box.flush()).toBe(0)

    expect(box.pending()).toEqual([])
    expect(refused).toHaveBeenCalledTimes(1)
    expect(refused.mock.calls[0]?.[0].error.status).toBe(404)
  })

  it("never sends one person's queued command under another's session", async () => {
    taro.request.mockImplementationOnce(noAnswer)
    const box = outbox()
    await box.issue(activity('rep1 only'))

    signIn('rep2')
    expect(box.pending()).toEqual([])
    expect(await box.flush()).toBe(0)
    expect(taro.request).toHaveBeenCalledTimes(1)

    signIn('rep1')
    taro.request.mockResolvedValueOnce(accepted(2, 20))
    expect(await box.flush()).toBe(1)
    expect(sent(1).header.Authorization).toBe('Bearer access-rep1')
  })
})

describe('newIdempotencyKey', () => {
  it('is a version 4 UUID, also without crypto', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    expect(newIdempotencyKey()).toMatch(uuid)
    let n = 0
    expect(newIdempotencyKey(() => ((n += 7) % 16) / 16)).toMatch(uuid)
  })
})
