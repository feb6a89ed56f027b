import { useCallback, useEffect, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { usePullDownRefresh } from '@tarojs/taro'

import { api, describeError } from '../../api'
import { StateView } from '../../components/StateView'
import { feed, type Notification } from '../../followups/feed'
import { notificationTitle } from '../../followups/labels'
import { formatDue } from '../../followups/time'
import { useZone } from '../../followups/zone'
import { customerPage } from '../../routes'

import './index.css'

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; items: Notification[]; unread: number; more: boolean }

const PAGE = 20

/** 通知: the inbox, newest first; new reminders arrive live. */
export default function NotificationsPage() {
  const [state, setState] = useState<State>({ status: 'loading' })
  const [live, setLive] = useState(false)
  const zone = useZone()

  const load = useCallback(async (quiet = false) => {
    if (!quiet) setState({ status: 'loading' })
    try {
      const page = await api.get('/v1/notifications', { query: { limit: PAGE } })
      setState({ status: 'ready', items: page.items, unread: page.unread, more: page.items.length === PAGE })
      feed.setUnread(page.unread)
    } catch (error) {
      if (!quiet) setState({ status: 'error', error })
    }
  }, [])

  useEffect(() => {
    void load()
  }, [load])
  usePullDownRefresh(() => {
    void load(true).finally(() => void Taro.stopPullDownRefresh())
  })

  // live: what arrives goes on top
  useEffect(() => {
    const off = feed.onArrival((n) =>
      setState((s) =>
        s.status === 'ready' && !s.items.some((o) => o.id === n.id)
          ? { ...s, items: [n, ...s.items], unread: s.unread + (n.read_at ? 0 : 1) }
          : s,
      ),
    )
    const unsubscribe = feed.subscribe((f) => setLive(f.live))
    return () => {
      off()
      unsubscribe()
    }
  }, [])

  async function loadMore() {
    if (state.status !== 'ready') return
    const last = state.items[state.items.length - 1]
    if (last === undefined) return
    try {
      const page = await api.get('/v1/notifications', { query: { limit: PAGE, before: last.id } })
      setState((s) =>
        s.status === 'ready'
          ? { ...s, items: [...s.items, ...page.items.filter((n) => !s.items.some((o) => o.id === n.id))], more: page.items.length === PAGE }
          : s,
      )
    } catch (error) {
      void Taro.showToast({ title: describeError(error).message, icon: 'none' })
    }
  }

  async function markRead(n: Notification) {
    if (n.read_at === null || n.read_at === undefined) {
      try {
        await api.post('/v1/notifications/{id}/read', { path: { id: n.id } })
        const now = new Date().toISOString()
        setState((s) => {
          if (s.status !== 'ready') return s
          const unread = Math.max(0, s.unread - 1)
          feed.setUnread(unread)
          return { ...s, unread, items: s.items.map((o) => (o.id === n.id ? { ...o, read_at: now } : o)) }
        })
      } catch (error) {
        void Taro.showToast({ title: describeError(error).message, icon: 'none' })
        return
      }
    }
    if (n.customer_id) void Taro.navigateTo({ url: customerPage(n.customer_id) })
  }

  async function markAll() {
    try {
      await api.post('/v1/notifications/read')
      const now = new Date().toISOString()
      feed.setUnread(0)
      setState((s) => (s.status === 'ready' ? { ...s, unread: 0, items: s.items.map((o) => ({ ...o, read_at: o.read_at ?? now })) } : s))
    } catch (error) {
      void Taro.showToast({ title: describeError(error).message, icon: 'none' })
    }
  }

  if (state.status === 'loading' || zone === null) return <StateView kind='loading' />
  if (state.status === 'error') return <StateView kind='error' error={state.error} onRetry={() => void load()} />
  return (
    <View className='inbox'>
      <View className='inbox__head'>
        <View className='inbox__count' ariaRole='status' ariaLabel={`未读 ${state.unread} 条`}>
          未读 {state.unread} 条{live ? '' : '（连接中…）'}
        </View>
        {state.unread > 0 && (
          <View className='inbox__all' ariaRole='button' ariaLabel='全部已读' onClick={() => void markAll()}>
            全部已读
          </View>
        )}
      </View>
      {state.items.length === 0 ? (
        <StateView kind='empty' text='暂无通知' hint='跟进到了提醒时间会通知您' />
      ) : (
        <View className='inbox__list' ariaRole='list' ariaLabel='通知'>
          {state.items.map((n) => {
            const unread = n.read_at === null || n.read_at === undefined
            return (
              <View
                key={n.id}
                className={`inbox__item ${unread ? 'inbox__item--unread' : ''}`}
                ariaRole='listitem'
                ariaLabel={`${unread ? '未读，' : ''}${notificationTitle(n.kind)}：${n.customer_name ?? '客户'}，${n.subject}`}
                onClick={() => void markRead(n)}
              >
                <View className='inbox__top'>
                  <Text className='inbox__title'>
                    {unread && <Text className='inbox__dot'>● </Text>}
                    {notificationTitle(n.kind)} · {n.customer_name ?? '客户'}
                  </Text>
                  <Text className='inbox__when'>{formatDue(zone, n.created_at)}</Text>
                </View>
                <Text className='inbox__subject'>{n.subject}</Text>
                {n.due_at && (
                  <Text className='inbox__side'>
                    到期 {formatDue(zone, n.due_at)}
                    {n.late ? ' · 延迟送达' : ''}
                  </Text>
                )}
              </View>
            )
          })}
        </View>
      )}
      {state.more && (
        <View className='inbox__more' ariaRole='button' ariaLabel='加载更多' onClick={() => void loadMore()}>
          加载更多
        </View>
      )}
    </View>
  )
}
