import { useCallback, useEffect, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { useDidShow, useLoad, usePullDownRefresh } from '@tarojs/taro'

import { api, loadSession, type CustomerSummary, type components, type Outcome } from '../../api'
import { FollowUpItem } from '../../components/FollowUpItem'
import { StateView } from '../../components/StateView'
import { feed } from '../../followups/feed'
import type { FollowUpView } from '../../followups/labels'
import type { Zone } from '../../followups/time'
import { zoneFromCounts } from '../../followups/zone'
import {
  CUSTOMERS_PAGE,
  customerEditPage,
  customerPage,
  followUpsPage,
  FUNNEL_PAGE,
  LOGIN_PAGE,
  NOTIFICATIONS_PAGE,
} from '../../routes'
import { stageInfo } from '../../stages'

import '../../components/FollowUpItem.css'
import './index.css'

type Counts = components['schemas']['FollowUpCounts']

type Due =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; counts: Counts; zone: Zone; items: FollowUpView[] }

/** Overdue ones first, then today's, each by due time; one entry per follow-up. */
function dueNow(overdue: FollowUpView[], today: FollowUpView[]): FollowUpView[] {
  const seen = new Set<string>()
  return [...overdue, ...today]
    .filter((f) => (seen.has(f.id) ? false : (seen.add(f.id), true)))
    .sort((a, b) => Number(b.overdue) - Number(a.overdue) || Date.parse(a.due_at) - Date.parse(b.due_at))
}

type Funnel = components['schemas']['Funnel']

type State =
  | { status: 'loading' }
  | { status: 'error'; error: unknown }
  | { status: 'ready'; funnel: Funnel; recent: CustomerSummary[] }

const yuan = (amount: string) => {
  const n = Number(amount)
  return Number.isFinite(n) ? `¥${n.toLocaleString('zh-CN', { maximumFractionDigits: 0 })}` : `¥${amount}`
}

/** 首页: my funnel at a glance, the customers I was last in touch with, and where to go next. */
export default function HomePage() {
  const [session] = useState(() => loadSession())
  const [state, setState] = useState<State>({ status: 'loading' })
  const [due, setDue] = useState<Due>({ status: 'loading' })
  const [unread, setUnread] = useState(() => feed.state().unread)
  const [notice, setNotice] = useState<string | null>(null)

  /** My counts and what is due now (overdue or today); `minPosition` after my own write. */
  const loadDue = useCallback(async (minPosition?: number, quiet = false) => {
    if (!quiet) setDue({ status: 'loading' })
    const fresh = minPosition !== undefined ? { min_position: minPosition } : {}
    try {
      const [counts, overdue, today] = await Promise.all([
        api.get('/v1/follow-ups/counts', { query: { scope: 'mine' } }),
        api.get('/v1/follow-ups', { query: { due: 'overdue', scope: 'mine', limit: 20, ...fresh } }),
        api.get('/v1/follow-ups', { query: { due: 'today', scope: 'mine', limit: 20, ...fresh } }),
      ])
      setDue({ status: 'ready', counts, zone: zoneFromCounts(counts), items: dueNow(overdue.items, today.items) })
    } catch (error) {
      if (!quiet) setDue({ status: 'error', error })
    }
  }, [])

  const load = useCallback(async (quiet = false) => {
    const me = loadSession()
    if (me === null) return
    if (!quiet) setState({ status: 'loading' })
    try {
      // A rep's own funnel; a manager's and an admin's cover whom they see.
      const [funnel, recent] = await Promise.all([
        api.get('/v1/funnel', { query: { cards: 0, ...(me.role === 'rep' ? { owner_id: me.login } : {}) } }),
        api.get('/v1/customers', { query: { sort: '-last_contact', limit: 5 } }),
      ])
      setState({ status: 'ready', funnel, recent: recent.items })
    } catch (error) {
      setState({ status: 'error', error })
    }
  }, [])

  useLoad(() => {
    if (session === null) void Taro.reLaunch({ url: LOGIN_PAGE })
  })
  useEffect(() => {
    if (session !== null) {
      void load()
      void loadDue()
    }
  }, [load, loadDue, session])
  useDidShow(() => {
    if (state.status === 'ready') void load(true)
    if (due.status === 'ready') void loadDue(undefined, true)
  })
  usePullDownRefresh(() => {
    void Promise.all([load(true), loadDue(undefined, true)]).finally(() => void Taro.stopPullDownRefresh())
  })
  // the unread badge follows the live feed
  useEffect(() => (session === null ? undefined : feed.subscribe((f) => setUnread(f.unread))), [session])

  function issued(outcome: Outcome) {
    if (outcome.status === 'sent') {
      setNotice(`${outcome.command.label}：已保存`)
      void loadDue(outcome.answer.position, true)
    } else {
      setNotice(`${outcome.command.label}：网络不可用，已保存在手机上，联网后自动发送`)
    }
  }

  const go = (url: string) => () => void Taro.navigateTo({ url })

  return (
    <View className='home'>
      <View className='home__hello'>
        <Text className='home__name'>{session?.login ?? ''}，您好</Text>
        <View
          className='home__bell'
          ariaRole='link'
          ariaLabel={unread > 0 ? `通知，未读 ${unread} 条` : '通知'}
          onClick={go(NOTIFICATIONS_PAGE)}
        >
          通知
          {unread > 0 && <Text className='home__badge'>{unread > 99 ? '99+' : unread}</Text>}
        </View>
      </View>
      <View className='home__links' ariaRole='navigation' ariaLabel='常用'>
        <View className='home__link' ariaRole='link' ariaLabel='客户' onClick={go(CUSTOMERS_PAGE)}>
          客户
        </View>
        <View className='home__link' ariaRole='link' ariaLabel='跟进' onClick={go(followUpsPage())}>
          跟进
        </View>
        <View className='home__link' ariaRole='link' ariaLabel='销售漏斗' onClick={go(FUNNEL_PAGE)}>
          销售漏斗
        </View>
        <View className='home__link' ariaRole='link' ariaLabel='新建客户' onClick={go(customerEditPage())}>
          新建客户
        </View>
      </View>

      <Text className='home__section'>今日跟进</Text>
      {notice !== null && (
        <View className='home__notice' ariaRole='status'>
          {notice}
        </View>
      )}
      {due.status === 'loading' && <StateView kind='loading' text='跟进加载中' />}
      {due.status === 'error' && <StateView kind='error' error={due.error} onRetry={() => void loadDue()} />}
      {due.status === 'ready' && (
        <View className='home__card'>
          <View className='home__totals'>
            {(
              [
                ['overdue', '逾期', due.counts.overdue],
                ['today', '今天', due.counts.today],
                ['tomorrow', '明天', due.counts.tomorrow],
                ['week', '本周', due.counts.week],
              ] as const
            ).map(([tab, name, count]) => (
              <View
                key={tab}
                className='home__total'
                ariaRole='link'
                ariaLabel={`${name}跟进 ${count} 条`}
                onClick={go(followUpsPage(tab))}
              >
                <Text className={`home__figure ${tab === 'overdue' && count > 0 ? 'home__figure--alert' : ''}`}>{count}</Text>
                <Text className='home__caption'>{name}</Text>
              </View>
            ))}
          </View>
          {due.items.length === 0 ? (
            <Text className='home__note'>今天没有待办的跟进</Text>
          ) : (
            <View className='home__due' ariaRole='list' ariaLabel='今天和逾期的跟进'>
              {due.items.map((item) => (
                <FollowUpItem
                  key={item.id}
                  item={item}
                  zone={due.zone}
                  actions={['complete']}
                  onOpen={go(customerPage(item.customer_id))}
                  onIssued={issued}
                  onStale={() => void loadDue(undefined, true)}
                />
              ))}
            </View>
          )}
        </View>
      )}

      {state.status === 'loading' && <StateView kind='loading' />}
      {state.status === 'error' && <StateView kind='error' error={state.error} onRetry={() => void load()} />}
      {state.status === 'ready' && (
        <>
          <Text className='home__section'>我的漏斗</Text>
          <View className='home__card' ariaRole='link' ariaLabel='漏斗概览，点击查看销售漏斗' onClick={go(FUNNEL_PAGE)}>
            <View className='home__totals'>
              <View className='home__total' ariaLabel={`客户 ${state.funnel.totals.count} 位`}>
                <Text className='home__figure'>{state.funnel.totals.count}</Text>
                <Text className='home__caption'>客户</Text>
              </View>
              <View className='home__total' ariaLabel={`预计金额 ${yuan(state.funnel.totals.total_value)}`}>
                <Text className='home__figure'>{yuan(state.funnel.totals.total_value)}</Text>
                <Text className='home__caption'>预计金额</Text>
              </View>
              <View className='home__total' ariaLabel={`加权金额 ${yuan(state.funnel.totals.weighted_value)}`}>
                <Text className='home__figure'>{yuan(state.funnel.totals.weighted_value)}</Text>
                <Text className='home__caption'>加权金额</Text>
              </View>
            </View>
            {state.funnel.stages.map((s) => {
              const max = Math.max(1, ...state.funnel.stages.map((x) => x.count))
              return (
                <View key={s.id} className='home__stage' ariaLabel={`${s.name || stageInfo(s.id).name} ${s.count} 位`}>
                  <Text className='home__stage-name'>{s.name || stageInfo(s.id).name}</Text>
                  <View className='home__bar'>
                    <View className='home__fill' style={{ width: `${(s.count / max) * 100}%` }} />
                  </View>
                  <Text className='home__stage-count'>{s.count}</Text>
                </View>
              )
            })}
          </View>

          <Text className='home__section'>最近联系的客户</Text>
          <View className='home__card' ariaRole='list' ariaLabel='最近联系的客户'>
            {state.recent.length === 0 && <Text className='home__note'>还没有客户</Text>}
            {state.recent.map((c) => (
              <View
                key={c.id}
                className='home__customer'
                ariaRole='link'
                ariaLabel={`${c.name}，${stageInfo(c.stage).name}`}
                onClick={go(customerPage(c.id))}
              >
                <Text className='home__customer-name'>{c.name}</Text>
                <Text className='home__customer-side'>
                  {c.company ?? ''} · {stageInfo(c.stage).name}
                </Text>
              </View>
            ))}
          </View>
        </>
      )}
    </View>
  )
}
