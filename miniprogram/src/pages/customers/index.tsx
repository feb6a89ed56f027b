import { useEffect, useState } from 'react'
import { Input, Text, View } from '@tarojs/components'
import Taro, { useLoad, usePullDownRefresh, useReachBottom } from '@tarojs/taro'

import { api, describeError, loadSession, type CustomerSummary } from '../../api'
import { LIFECYCLES } from '../../lifecycles'
import { StateView } from '../../components/StateView'
import { customerEditPage, customerPage, FUNNEL_PAGE, LOGIN_PAGE } from '../../routes'
import { STAGES, stageInfo } from '../../stages'
import { useCustomerList, type Filters } from './useCustomerList'

import './index.css'

const SEARCH_DELAY_MS = 300

function CustomerRow({ customer }: { customer: CustomerSummary }) {
  const stage = stageInfo(customer.stage)
  const owner = customer.owner_name ?? customer.owner_id
  return (
    <View
      className='customer'
      ariaRole='link'
      ariaLabel={`${customer.name}，${customer.company ?? '—'}，${stage.name}，负责人 ${owner}`}
      onClick={() => void Taro.navigateTo({ url: customerPage(customer.id) })}
    >
      {/* the spaces between the texts: the accessible name contains the visible words (axe) */}
      <View className='customer__main'>
        <Text className='customer__name'>{customer.name}</Text>{' '}
        <Text className='customer__company'>{customer.company ?? '—'}</Text>
      </View>{' '}
      <View className='customer__side'>
        <Text className='customer__stage' style={{ background: stage.colour }}>
          {stage.name}
        </Text>{' '}
        <Text className='customer__owner'>负责人 {owner}</Text>
      </View>
    </View>
  )
}

export default function CustomersPage() {
  const [text, setText] = useState('')
  const [filters, setFilters] = useState<Filters>({ q: '', stage: '', lifecycle: '', tag: '', owner: '' })
  const [tagText, setTagText] = useState('')
  const [more, setMore] = useState(false)
  // Signed out: straight to sign-in, without asking the service first.
  const [session] = useState(() => loadSession())
  const signedIn = session !== null
  const seesOthers = session !== null && session.role !== 'rep'
  /** The tenant's salespeople, for a manager's owner filter (its own scope still applies). */
  const [owners, setOwners] = useState<Array<{ login: string; name: string }>>([])
  useEffect(() => {
    if (!seesOthers || !more || owners.length > 0) return
    api
      .get('/v1/users')
      .then((list) =>
        setOwners(
          list.users
            .filter((u) => u.active && (u.role === 'rep' || u.role === 'manager'))
            .map((u) => ({ login: u.login, name: u.display_name ?? u.login })),
        ),
      )
      .catch(() => setOwners([]))
  }, [seesOthers, more, owners.length])
  const { state, reload, loadMore } = useCustomerList(filters, signedIn)

  useLoad(() => {
    if (!signedIn) void Taro.reLaunch({ url: LOGIN_PAGE })
  })

  // search as the user types, once the typing pauses
  useEffect(() => {
    const timer = setTimeout(() => {
      setFilters((f) => (f.q === text.trim() ? f : { ...f, q: text.trim() }))
    }, SEARCH_DELAY_MS)
    return () => clearTimeout(timer)
  }, [text])

  usePullDownRefresh(() => {
    void reload(true).finally(() => void Taro.stopPullDownRefresh())
  })
  useReachBottom(() => void loadMore())

  const searching =
    filters.q !== '' || filters.stage !== '' || filters.lifecycle !== '' || filters.tag !== '' || filters.owner !== ''
  const chip = (on: boolean, name: string, choose: () => void, key: string) => (
    <View
      key={key}
      className={`customers__chip ${on ? 'customers__chip--on' : ''}`}
      ariaRole='radio'
      aria-checked={on ? 'true' : 'false'}
      ariaLabel={on ? `${name}，已选中` : name}
      onClick={choose}
    >
      {name}
    </View>
  )

  return (
    <View className='customers'>
      <View className='customers__bar'>
        <View
          className='customers__funnel-link'
          ariaRole='link'
          ariaLabel='销售漏斗'
          onClick={() => void Taro.navigateTo({ url: FUNNEL_PAGE })}
        >
          销售漏斗 ›
        </View>
        <Input
          className='customers__search'
          type='text'
          confirmType='search'
          ariaLabel='搜索客户'
          placeholder='搜索姓名、公司或电话'
          value={text}
          onInput={(e) => setText(e.detail.value)}
          onConfirm={(e) => setFilters((f) => ({ ...f, q: e.detail.value.trim() }))}
        />
        <View className='customers__stages' ariaRole='radiogroup' ariaLabel='按阶段筛选'>
          {[{ code: '', name: '全部' }, ...STAGES].map((s) =>
            chip(filters.stage === s.code, s.name, () => setFilters((f) => ({ ...f, stage: s.code })), s.code),
          )}
        </View>
        <View
          className='customers__more'
          ariaRole='button'
          ariaLabel={more ? '收起筛选' : '更多筛选'}
          onClick={() => setMore((m) => !m)}
        >
          {more ? '收起筛选 ▲' : '更多筛选 ▼'}
        </View>
        {more && (
          <>
            <View className='customers__stages' ariaRole='radiogroup' ariaLabel='按生命周期筛选'>
              {[{ code: '', name: '全部' }, ...LIFECYCLES].map((l) =>
                chip(filters.lifecycle === l.code, l.name, () => setFilters((f) => ({ ...f, lifecycle: l.code })), l.code),
              )}
            </View>
            {seesOthers && owners.length > 0 && (
              <View className='customers__stages' ariaRole='radiogroup' ariaLabel='按负责人筛选'>
                {[{ login: '', name: '全部负责人' }, ...owners].map((o) =>
                  chip(filters.owner === o.login, o.name, () => setFilters((f) => ({ ...f, owner: o.login })), o.login),
                )}
              </View>
            )}
            <Input
              className='customers__search'
              type='text'
              confirmType='search'
              ariaLabel='按标签筛选'
              placeholder='按标签筛选，输入后确认'
              value={tagText}
              onInput={(e) => setTagText(e.detail.value)}
              onConfirm={(e) => setFilters((f) => ({ ...f, tag: e.detail.value.trim() }))}
              onBlur={() => setFilters((f) => ({ ...f, tag: tagText.trim() }))}
            />
          </>
        )}
      </View>

      {state.status === 'loading' && <StateView kind='loading' />}
      {state.status === 'error' && (
        <StateView kind='error' error={state.error} onRetry={() => void reload()} />
      )}
      {state.status === 'ready' && state.items.length === 0 && (
        <StateView
          kind='empty'
          text={searching ? '没有符合条件的客户' : '还没有客户'}
          {...(searching ? { hint: '换个关键词或阶段试试' } : {})}
        />
      )}
      {state.status === 'ready' && state.items.length > 0 && (
        <View className='customers__list' ariaRole='list'>
          {state.items.map((c) => (
            <View key={c.id} ariaRole='listitem'>
              <CustomerRow customer={c} />
            </View>
          ))}
          <View className='customers__footer' ariaRole='listitem'>
            {state.loadingMore ? (
              <Text>加载中…</Text>
            ) : state.moreError !== null ? (
              <View
                className='customers__more-error'
                ariaRole='button'
                onClick={() => void loadMore()}
              >
                {describeError(state.moreError).message}，点击重试
              </View>
            ) : state.nextCursor !== null ? (
              <View ariaRole='button' onClick={() => void loadMore()}>
                加载更多
              </View>
            ) : (
              <Text>没有更多了</Text>
            )}
          </View>
        </View>
      )}
      <View
        className='customers__new'
        ariaRole='button'
        ariaLabel='新建客户'
        onClick={() => void Taro.navigateTo({ url: customerEditPage() })}
      >
        ＋ 新建客户
      </View>
    </View>
  )
}
