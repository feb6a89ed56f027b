import { useCallback, useEffect, useState } from 'react'
import { Text, View } from '@tarojs/components'
import Taro, { useDidShow, useLoad, usePullDownRefresh } from '@tarojs/taro'

import { api, loadSession, type CustomerSummary, type components } from '../../api'
import { StateView } from '../../components/StateView'
import { CUSTOMERS_PAGE, customerEditPage, customerPage, FUNNEL_PAGE, LOGIN_PAGE } from '../../routes'
import { stageInfo } from '../../stages'

import './index.css'

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
    if (session !== null) void load()
  }, [load, session])
  useDidShow(() => {
    if (state.status === 'ready') void load(true)
  })
  usePullDownRefresh(() => {
    void load(true).finally(() => void Taro.stopPullDownRefresh())
  })

  const go = (url: string) => () => void Taro.navigateTo({ url })

  return (
    <View className='home'>
      <View className='home__hello'>
        <Text className='home__name'>{session?.login ?? ''}，您好</Text>
      </View>
      <View className='home__links' ariaRole='navigation' ariaLabel='常用'>
        <View className='home__link' ariaRole='link' ariaLabel='客户' onClick={go(CUSTOMERS_PAGE)}>
          客户
        </View>
        <View className='home__link' ariaRole='link' ariaLabel='销售漏斗' onClick={go(FUNNEL_PAGE)}>
          销售漏斗
        </View>
        <View className='home__link' ariaRole='link' ariaLabel='新建客户' onClick={go(customerEditPage())}>
          新建客户
        </View>
      </View>

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
