import { useCallback, useEffect, useState } from 'react'
import { Button, View } from '@tarojs/components'
import Taro, { useRouter } from '@tarojs/taro'

import { api, describeError, outbox, ProblemError, type CustomerDetail } from '../../api'
import { Field } from '../../components/Field'
import { StateView } from '../../components/StateView'
import { customerPage } from '../../routes'
import { amountError, emailError, phoneError, textError } from '../../validate'

import './index.css'

const FIELDS = ['name', 'phone', 'company', 'email', 'industry', 'position', 'source', 'deal_value'] as const
type Name = (typeof FIELDS)[number]
type Values = Record<Name, string>
type Errors = Partial<Record<Name, string>>

const LABELS: Record<Name, string> = {
  name: '姓名',
  phone: '手机号',
  company: '公司',
  email: '邮箱',
  industry: '行业',
  position: '职位',
  source: '来源',
  deal_value: '预计成交金额（元）',
}

/** The bounds of events::values::TextField and the value types. */
function validate(v: Values): Errors {
  const found: Errors = {
    name: textError(v.name, 100, true),
    phone: phoneError(v.phone),
    company: textError(v.company, 200),
    email: emailError(v.email),
    industry: textError(v.industry, 50),
    position: textError(v.position, 100),
    source: textError(v.source, 50),
    deal_value: amountError(v.deal_value, false),
  }
  return Object.fromEntries(Object.entries(found).filter(([, e]) => e !== undefined))
}

const empty: Values = Object.fromEntries(FIELDS.map((f) => [f, ''])) as Values

function valuesOf(c: CustomerDetail): Values {
  return {
    name: c.name,
    phone: c.phone ?? '',
    company: c.company ?? '',
    email: c.email ?? '',
    industry: c.industry ?? '',
    position: c.position ?? '',
    source: c.source ?? '',
    deal_value: c.deal_value === '0' || c.deal_value === '0.00' ? '' : c.deal_value,
  }
}

type Loaded = { status: 'loading' } | { status: 'error'; error: unknown } | { status: 'ready'; version: number | null; before: Values }

/** 新建客户 (no id) and 编辑资料 (an id): the same fields and rules as the service. */
export default function CustomerEditPage() {
  const { params } = useRouter()
  const id = params.id
  const [loaded, setLoaded] = useState<Loaded>(id === undefined ? { status: 'ready', version: null, before: empty } : { status: 'loading' })
  const [values, setValues] = useState<Values>(empty)
  const [errors, setErrors] = useState<Errors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const load = useCallback(async () => {
    if (id === undefined) return
    setLoaded({ status: 'loading' })
    try {
      const customer = await api.get('/v1/customers/{id}', { path: { id } })
      setValues(valuesOf(customer))
      setLoaded({ status: 'ready', version: customer.version, before: valuesOf(customer) })
      void Taro.setNavigationBarTitle({ title: `编辑 ${customer.name}` })
    } catch (error) {
      setLoaded({ status: 'error', error })
    }
  }, [id])

  useEffect(() => {
    void load()
  }, [load])

  const set = (name: Name) => (value: string) => {
    setValues((v) => ({ ...v, [name]: value }))
    setErrors((e) => ({ ...e, [name]: undefined }))
  }

  async function save() {
    if (loaded.status !== 'ready') return
    const found = validate(values)
    setErrors(found)
    setFormError(null)
    if (Object.keys(found).length > 0) {
      setFormError('请修改标红的内容')
      return
    }
    const trimmed = Object.fromEntries(FIELDS.map((f) => [f, values[f].trim()])) as Values
    setBusy(true)
    try {
      if (id === undefined) {
        const body = Object.fromEntries(Object.entries(trimmed).filter(([, v]) => v !== ''))
        const outcome = await outbox.issue({ method: 'post', path: '/v1/customers', body, label: '新建客户' })
        if (outcome.status === 'sent') {
          void Taro.redirectTo({ url: `${customerPage(outcome.answer.id)}&min_position=${outcome.answer.position}` })
        } else {
          await Taro.showModal({ title: '已保存在手机上', content: '网络恢复后自动提交', showCancel: false })
          void Taro.navigateBack()
        }
        return
      }
      // only what changed; a cleared optional field is null
      const changes = Object.fromEntries(
        FIELDS.filter((f) => trimmed[f] !== loaded.before[f]).map((f) => [f, trimmed[f] === '' && f !== 'name' ? null : trimmed[f]]),
      )
      if (Object.keys(changes).length === 0) {
        void Taro.navigateBack()
        return
      }
      const outcome = await outbox.issue({
        method: 'patch',
        path: '/v1/customers/{id}',
        params: { id },
        body: changes,
        ...(loaded.version !== null ? { ifMatch: loaded.version } : {}),
        label: '编辑资料',
        customerId: id,
      })
      if (outcome.status === 'queued') {
        await Taro.showModal({ title: '已保存在手机上', content: '网络恢复后自动提交', showCancel: false })
      }
      void Taro.navigateBack()
    } catch (error) {
      if (error instanceof ProblemError && (error.status === 409 || error.status === 412)) {
        const { confirm } = await Taro.showModal({
          title: '资料已被他人修改',
          content: '重新加载最新资料？（您的修改将丢失）',
          confirmText: '重新加载',
        })
        if (confirm) void load()
        return
      }
      if (error instanceof ProblemError) {
        const byField: Errors = {}
        const other: string[] = []
        for (const [field, messages] of Object.entries(error.fieldErrors)) {
          if ((FIELDS as readonly string[]).includes(field)) byField[field as Name] = messages[0]
          else other.push(...messages)
        }
        setErrors(byField)
        setFormError([describeError(error).message, ...other].join('：'))
      } else {
        setFormError(describeError(error).message)
      }
    } finally {
      setBusy(false)
    }
  }

  if (loaded.status === 'loading') return <StateView kind='loading' />
  if (loaded.status === 'error') return <StateView kind='error' error={loaded.error} onRetry={() => void load()} />

  return (
    <View className='edit'>
      <View className='edit__card'>
        {FIELDS.map((f) => (
          <Field
            key={f}
            form='customer'
            name={f}
            label={f === 'name' ? `${LABELS[f]}（必填）` : LABELS[f]}
            value={values[f]}
            onChange={set(f)}
            error={errors[f]}
            {...(f === 'deal_value' ? { type: 'digit' as const } : {})}
          />
        ))}
      </View>
      {formError !== null && (
        <View className='edit__error' ariaRole='alert'>
          {formError}
        </View>
      )}
      <Button className='edit__save' type='primary' loading={busy} disabled={busy} ariaLabel='保存客户' onClick={() => void save()}>
        保存
      </Button>
    </View>
  )
}
