import { describe, expect, it } from 'vitest'

import { SseParser, Utf8Stream } from './sse'

describe('SseParser', () => {
  it('reads the service feed: retry, heartbeats, notifications, shutdown', () => {
    const p = new SseParser()
    const events = p.push(
      'retry: 3000\n\n: heartbeat\n\nevent: notification\nid: 7\ndata: {"id":7,"subject":"回访"}\n\nevent: shutdown\ndata: the service is stopping\n\n',
    )
    expect(p.retry).toBe(3000)
    expect(events).toEqual([
      { event: 'notification', data: '{"id":7,"subject":"回访"}', lastEventId: '7' },
      { event: 'shutdown', data: 'the service is stopping', lastEventId: '7' },
    ])
    expect(p.lastEventId).toBe('7')
  })

  it('joins events cut anywhere, CRLF split across chunks included', () => {
    const text = 'event: notification\r\nid: 12\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SseParser()
      const events = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))]
      expect(events).toEqual([{ event: 'notification', data: '{"a":\n1}', lastEventId: '12' }])
    }
  })

  it('takes CR alone as a line end, defaults the type to message and drops a BOM', () => {
    const p = new SseParser()
    // the last CR waits for the next chunk: it may be half of a CRLF
    expect([...p.push('\ufeffdata:x\r\rdata\r\r'), ...p.push(': next')]).toEqual([
      { event: 'message', data: 'x', lastEventId: '' },
      { event: 'message', data: '', lastEventId: '' },
    ])
  })

  it('drops an unfinished event at the end and ignores bad ids and retries', () => {
    const p = new SseParser()
    p.push('id: 3\nretry: soon\ndata: half')
    p.end()
    expect(p.push('\n\n')).toEqual([])
    expect(p.lastEventId).toBe('3')
    expect(p.retry).toBeUndefined()
    p.push('id: a\u0000b\ndata: y\n\n')
    expect(p.lastEventId).toBe('3')
  })
})

describe('Utf8Stream', () => {
  const bytes = (s: string) => new TextEncoder().encode(s)

  it('decodes Chinese and emoji cut at every byte', () => {
    const all = bytes('跟进提醒：回访报价 😀 ok')
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new Utf8Stream()
      expect(d.decode(all.slice(0, cut)) + d.decode(all.slice(cut))).toBe('跟进提醒：回访报价 😀 ok')
    }
  })

  it('replaces invalid bytes', () => {
    const d = new Utf8Stream()
    expect(d.decode(new Uint8Array([0x61, 0xff, 0x62, 0xc0, 0x80, 0x63]))).toBe('a\ufffdb\ufffd\ufffdc')
    expect(d.decode(new Uint8Array([0xe8, 0x41]))).toBe('\ufffdA')
  })
})
