import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

// Taro.request (the inbox read) and storage, mocked; the stream is fetch, as on H5.
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

import { saveSession } from '../api'
import { createFeed, type Notification } from './feed'

const note = (id: number, subject = `提醒 ${id}`): Notification => ({
  id,
  kind: 'follow_up_due',
  subject,
  created_at: '2026-12-08T02:00:00Z',
  meant_for: '2026-12-08T02:00:00Z',
  late: false,
  read_at: null,
})

const sse = (...notes: Notification[]) =>
  'retry: 3000\n\n: heartbeat\n\n' +
  notes.map((n) => `event: notification\nid: ${n.id}\ndata: ${JSON.stringify(n)}\n\n`).join('')

/** A fetch answer whose body arrives in pieces cut at awkward places, then ends. */
function streamOf(text: string, status = 200): Response {
  const bytes = new TextEncoder().encode(text)
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
      controller.close()
    },
  })
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } })
}

describe('the notifications feed', () => {
  const fetches: string[] = []
  let answers: Array<() => Response | Promise<Response>> = []

  beforeEach(() => {
    process.env.TARO_ENV = 'h5'
    taro.storage.clear()
    taro.request.mockReset()
    fetches.length = 0
    answers = []
    saveSession({
      access_token: 'access-1',
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: 'refresh-1',
      tenant_id: '11111111-1111-1111-1111-111111111111',
      login: 'rep1',
      role: 'rep',
      must_change_password: false,
    })
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        fetches.push(`${url} ${(init.headers as Record<string, string>).Authorization}`)
        const next = answers.shift()
        if (next !== undefined) return next()
        // then nothing more: a connection that stays open until aborted
        return new Promise<Response>((_, reject) =>
          init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
        )
      }),
    )
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    Reflect.deleteProperty(process.env, 'TARO_ENV')
  })

  it('reads the inbox, follows the stream after its newest id, and resumes after the last one received', async () => {
    taro.request.mockResolvedValueOnce({ statusCode: 200, data: { items: [note(4)], unread: 2 }, header: {} })
    // the first connection delivers 5 and 6 and is closed by the service; the next resumes after 6
    answers.push(() => streamOf(sse(note(5), note(6))), () => streamOf(sse(note(7, '回访报价'))))
    const feed = createFeed()
    const arrived: number[] = []
    feed.onArrival((n) => arrived.push(n.id))
    const states: number[] = []
    const stop = feed.subscribe((s) => states.push(s.unread))

    await vi.waitFor(() => expect(arrived).toEqual([5, 6, 7]), { timeout: 3000 })
    expect(fetches[0]).toBe('/v1/notifications/stream?after=4 Bearer access-1')
    expect(fetches[1]).toBe('/v1/notifications/stream?after=6 Bearer access-1')
    // two unread in the inbox, three more arrived
    expect(feed.state().unread).toBe(5)
    expect(taro.request).toHaveBeenCalledTimes(1)
    stop()
  })

  it('drops what it has already seen and reconnects after a refused token once the session is renewed', async () => {
    taro.request
      .mockResolvedValueOnce({ statusCode: 200, data: { items: [note(9)], unread: 0 }, header: {} })
      // the inbox read that renews the session after the stream's 401
      .mockResolvedValueOnce({ statusCode: 200, data: { items: [note(9)], unread: 0 }, header: {} })
    answers.push(
      () => streamOf(sse(note(8), note(9), note(10))),
      () => new Response('', { status: 401 }),
      () => streamOf(sse(note(10), note(11))),
    )
    const feed = createFeed()
    const arrived: number[] = []
    feed.onArrival((n) => arrived.push(n.id))
    const stop = feed.subscribe(() => undefined)

    await vi.waitFor(() => expect(arrived).toEqual([10, 11]), { timeout: 5000 })
    // the stream closed again: the next connection resumes after 11
    await vi.waitFor(() => expect(fetches).toHaveLength(4), { timeout: 2000 })
    expect(fetches.map((f) => f.split(' ')[0])).toEqual([
      '/v1/notifications/stream?after=9',
      '/v1/notifications/stream?after=10',
      '/v1/notifications/stream?after=10',
      '/v1/notifications/stream?after=11',
    ])
    stop()
  })
})
