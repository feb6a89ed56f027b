import { useState } from 'react'
import { Button, Text, View } from '@tarojs/components'

import { describeError, outbox, ProblemError, type Outcome } from '../../api'
import { Field } from '../../components/Field'
import { amountError, textError } from '../../validate'

/** Which form is open; `reopen` moves a closed deal back to `stage`, which needs a reason. */
export type Panel =
  | 'activity'
  | 'purchase'
  | 'tag'
  | { reopen: { stage: string; name: string; version: number } }
  | null

const ACTIVITY_TYPES = [
  { code: 'call', name: '电话' },
  { code: 'visit', name: '拜访' },
  { code: 'meeting', name: '会议' },
  { code: 'email', name: '邮件' },
] as const

interface Props {
  panel: Exclude<Panel, null>
  customerId: string
  onClose: () => void
  /** A command went out (sent or kept for later). */
  onIssued: (outcome: Outcome) => void
}

type Errors = Record<string, string | undefined>

/** The forms behind the customer's actions: log an activity, record a purchase, add a tag. */
export function ActionPanel({ panel, customerId, onClose, onIssued }: Props) {
  const [type, setType] = useState<string>('call')
  const [subject, setSubject] = useState('')
  const [notes, setNotes] = useState('')
  const [amount, setAmount] = useState('')
  const [category, setCategory] = useState('')
  const [tag, setTag] = useState('')
  const [reason, setReason] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const local = (): Errors =>
    panel === 'activity'
      ? { subject: textError(subject, 200, true), notes: textError(notes.replace(/[\n\t]/g, ' '), 5000) }
      : panel === 'purchase'
        ? { amount: amountError(amount, true), category: textError(category, 50, true) }
        : panel === 'tag'
          ? { tag: textError(tag, 32, true) }
          : { reason: textError(reason.replace(/[\n\t]/g, ' '), 500, true) }

  async function submit() {
    const found = local()
    setErrors(found)
    setFormError(null)
    if (Object.values(found).some((e) => e !== undefined)) return
    setBusy(true)
    try {
      const outcome =
        panel === 'activity'
          ? await outbox.issue({
              method: 'post',
              path: '/v1/customers/{id}/activities',
              params: { id: customerId },
              body: { type, subject: subject.trim(), ...(notes.trim() ? { notes: notes.trim() } : {}) },
              label: '记录跟进',
              customerId,
            })
          : panel === 'purchase'
            ? await outbox.issue({
                method: 'post',
                path: '/v1/customers/{id}/purchases',
                params: { id: customerId },
                body: { amount: amount.trim(), category: category.trim() },
                label: '记录购买',
                customerId,
              })
            : panel === 'tag'
              ? await outbox.issue({
                  method: 'post',
                  path: '/v1/customers/{id}/tags',
                  params: { id: customerId },
                  body: { tag: tag.trim() },
                  label: '添加标签',
                  customerId,
                })
              : await outbox.issue({
                  method: 'put',
                  path: '/v1/customers/{id}/stage',
                  params: { id: customerId },
                  body: { stage: panel.reopen.stage, reason: reason.trim() },
                  ifMatch: panel.reopen.version,
                  label: `移至${panel.reopen.name}`,
                  customerId,
                })
      onIssued(outcome)
    } catch (error) {
      if (error instanceof ProblemError && Object.keys(error.fieldErrors).length > 0) {
        setErrors(Object.fromEntries(Object.entries(error.fieldErrors).map(([k, v]) => [k, v[0]])))
      }
      const described = describeError(error)
      setFormError(described.detail ?? described.message)
    } finally {
      setBusy(false)
    }
  }

  const title =
    panel === 'activity'
      ? '记录跟进'
      : panel === 'purchase'
        ? '记录购买'
        : panel === 'tag'
          ? '添加标签'
          : `重新打开：移至${panel.reopen.name}`
  return (
    <View className='panel' ariaRole='dialog' ariaLabel={title}>
      <View className='panel__head'>
        <Text className='panel__title'>{title}</Text>
        <View className='panel__close' ariaRole='button' ariaLabel='关闭' onClick={onClose}>
          ×
        </View>
      </View>
      {panel === 'activity' && (
        <>
          <View className='panel__chips' ariaRole='radiogroup' ariaLabel='跟进方式'>
            {ACTIVITY_TYPES.map((t) => (
              <View
                key={t.code}
                className={`chip ${type === t.code ? 'chip--on' : ''}`}
                ariaRole='radio'
                ariaLabel={type === t.code ? `${t.name}，已选中` : t.name}
                onClick={() => setType(t.code)}
              >
                {t.name}
              </View>
            ))}
          </View>
          <Field form='activity' name='subject' label='主题' value={subject} onChange={setSubject} error={errors.subject} maxlength={200} placeholder='如：电话沟通报价' />
          <Field form='activity' name='notes' label='备注' value={notes} onChange={setNotes} error={errors.notes} maxlength={5000} multiline />
        </>
      )}
      {panel === 'purchase' && (
        <>
          <Field form='purchase' name='amount' label='金额（元）' value={amount} onChange={setAmount} error={errors.amount} type='digit' placeholder='1999.00' />
          <Field form='purchase' name='category' label='品类' value={category} onChange={setCategory} error={errors.category} maxlength={50} placeholder='如：软件服务' />
        </>
      )}
      {panel === 'tag' && (
        <Field form='tag' name='tag' label='标签' value={tag} onChange={setTag} error={errors.tag} maxlength={32} />
      )}
      {typeof panel === 'object' && (
        <Field form='reopen' name='reason' label='原因' value={reason} onChange={setReason} error={errors.reason} maxlength={500} multiline placeholder='如：客户追加采购' />
      )}
      {formError !== null && (
        <View className='panel__error' ariaRole='alert'>
          {formError}
        </View>
      )}
      <Button className='panel__submit' type='primary' disabled={busy} loading={busy} ariaLabel='保存' onClick={() => void submit()}>
        保存
      </Button>
    </View>
  )
}
