import { useCallback, useEffect, useRef, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { useDidShow, usePullDownRefresh, useRouter } from '@tarojs/taro'

import { api, loadSession, type Outcome } from '../../api'
import { FollowUpItem, type FollowUpAction } from '../../components/FollowUpItem'
import { StateView } from '../../components/StateView'
import type { FollowUpView } from '../../followups/labels'
import { feed } from '../../followups/feed'
import { useZone } from '../../followups/zone'
import { customerPage } from '../../routes'

import '../../components/FollowUpItem.css'
import './index.css'

type Tab = 'overdue' | 'today' | 'tomorrow' | 'week' | 'all' | 'done'
const TABS: ReadonlyArray<{ code: Tab; name: string }> = [
  { code: 'overdue', name: '逾期' },
  { code: 'today', name: '今天' },
  { code: 'tomorrow', name: '明天' },
  { code: 'week', name: '本周' },
  { code: 'all', name: '全部' },
  { code: 'done', name: '已完成' },
]
const isTab = (value: string | undefined): value is Tab => TABS.some((t) => t.code === value)

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; items: FollowUpView[]; cursor: string | null; more: 'idle' | 'loading' | 'error' }

const PAGE = 20

/** 跟进: mine (or, for managers, the team's) by when they are due, with their actions. */
export default function FollowUpsPage() {
  const { params } = useRouter()
  const [session] = useState(() => loadSession())
  const manager = session?.role === 'manager' || session?.role === 'admin'
  const [tab, setTab] = useState<Tab>(isTab(params.tab) ? params.tab : 'today')
  const [scope, setScope] = useState<'mine' | 'team'>('mine')
  const [state, setState] = useState<State>({ status: 'loading' })
  const [notice, setNotice] = useState<string | null>(null)
  const zone = useZone()
  // reminders arrive (as a toast) while this screen is shown too
  useEffect(() => feed.subscribe(() => undefined), [])
  /** Only the newest request may set the state (tabs switched quickly). */
  const generation = useRef(0)

  const query = useCallback(
    (cursor?: string, minPosition?: number) => ({
      due: tab === 'done' ? ('all' as const) : tab,
      status: tab === 'done' ? ('done' as const) : ('open' as const),
      scope,
      limit: PAGE,
      ...(cursor !== undefined ? { cursor } : {}),
      ...(minPosition !== undefined ? { min_position: minPosition } : {}),
    }),
    [scope, tab],
  )

  const load = useCallback(
    async (minPosition?: number, quiet = false) => {
      const mine = ++generation.current
      if (!quiet) setState({ status: 'loading' })
      try {
        const page = await api.get('/v1/follow-ups', { query: query(undefined, minPosition) })
        if (mine !== generation.current) return
        setState({ status: 'ready', items: page.items, cursor: page.next_cursor ?? null, more: 'idle' })
      } catch (error) {
        if (mine === generation.current && !quiet) setState({ status: 'error', error })
      }
    },
    [query],
  )

  useEffect(() => {
    void load()
  }, [load])
  useDidShow(() => {
    if (state.status === 'ready') void load(undefined, true)
  })
  usePullDownRefresh(() => {
    void load(undefined, true).finally(() => void Taro.stopPullDownRefresh())
  })

  async function loadMore() {
    if (state.status !== 'ready' || state.cursor === null || state.more === 'loading') return
    const mine = generation.current
    setState({ ...state, more: 'loading' })
    try {
      const page = await api.get('/v1/follow-ups', { query: query(state.cursor) })
      if (mine !== generation.current) return
      setState((s) =>
        s.status === 'ready'
          ? {
              status: 'ready',
              items: [...s.items, ...page.items.filter((n) => !s.items.some((o) => o.id === n.id))],
              cursor: page.next_cursor ?? null,
              more: 'idle',
            }
          : s,
      )
    } catch {
      setState((s) => (s.status === 'ready' ? { ...s, more: 'error' } : s))
    }
  }

  function issued(outcome: Outcome) {
    if (outcome.status === 'sent') {
      setNotice(`${outcome.command.label}：已保存`)
      void load(outcome.answer.position, true)
    } else {
      setNotice(`${outcome.command.label}：网络不可用，已保存在手机上，联网后自动发送`)
    }
  }

  const actions: FollowUpAction[] = manager ? ['complete', 'reschedule', 'cancel', 'reassign'] : ['complete', 'reschedule', 'cancel']
  const tabName = TABS.find((t) => t.code === tab)?.name ?? ''
  return (
    <View className='fus'>
      <View className='fus__tabs' ariaRole='radiogroup' ariaLabel='按时间筛选'>
        {TABS.map((t) => (
          <View
            key={t.code}
            className={`fus__tab ${tab === t.code ? 'fus__tab--on' : ''}`}
            ariaRole='radio'
            aria-checked={tab === t.code ? 'true' : 'false'}
            ariaLabel={t.name}
            onClick={() => setTab(t.code)}
          >
            {t.name}
          </View>
        ))}
      </View>
      {manager && (
        <View className='fus__scope' ariaRole='radiogroup' ariaLabel='范围'>
          {(['mine', 'team'] as const).map((s) => (
            <View
              key={s}
              className={`fu__chip ${scope === s ? 'fu__chip--on' : ''}`}
              ariaRole='radio'
              aria-checked={scope === s ? 'true' : 'false'}
              ariaLabel={s === 'mine' ? '我的' : '团队'}
              onClick={() => setScope(s)}
            >
              {s === 'mine' ? '我的' : '团队'}
            </View>
          ))}
        </View>
      )}
      {notice !== null && (
        <View className='fus__notice' ariaRole='status'>
          {notice}
        </View>
      )}
      {(state.status === 'loading' || zone === null) && state.status !== 'error' && <StateView kind='loading' />}
      {state.status === 'error' && <StateView kind='error' error={state.error} onRetry={() => void load()} />}
      {state.status === 'ready' && zone !== null && (
        <>
          {state.items.length === 0 ? (
            <StateView kind='empty' text={tab === 'done' ? '还没有已完成的跟进' : `没有${tabName}的跟进`} />
          ) : (
            <View className='fus__list' ariaRole='list' ariaLabel={`${tabName}的跟进`}>
              {state.items.map((item) => (
                <FollowUpItem
                  key={item.id}
                  item={item}
                  zone={zone}
                  actions={actions}
                  showAssignee={scope === 'team'}
                  onOpen={() => void Taro.navigateTo({ url: customerPage(item.customer_id) })}
                  onIssued={issued}
                  onStale={() => void load(undefined, true)}
                />
              ))}
            </View>
          )}
          {state.cursor !== null && (
            <View className='fus__more' ariaRole='button' ariaLabel='加载更多' onClick={() => void loadMore()}>
              {state.more === 'loading' ? '加载中…' : state.more === 'error' ? '加载失败，点击重试' : '加载更多'}
            </View>
          )}
          {state.cursor === null && state.items.length > 0 && <Text className='fus__end'>没有更多了</Text>}
        </>
      )}
    </View>
  )
}
