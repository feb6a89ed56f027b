import { useState } from 'react'
import { Button, Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'

import { api, describeError, loadSession, outbox, ProblemError, type components, type Outcome } from '../api'
import { typeName, type FollowUpView } from '../followups/labels'
import { dueError, formatDateTime, formatDue, parseLocal, toRfc3339, type Zone } from '../followups/time'
import { textError } from '../validate'
import { Field } from './Field'

import './FollowUpItem.css'

type UserView = components['schemas']['UserView']
export type FollowUpAction = 'complete' | 'reschedule' | 'cancel' | 'reassign'

const ACTION_NAME: Record<FollowUpAction, string> = {
  complete: '完成',
  reschedule: '改期',
  cancel: '取消',
  reassign: '转派',
}

let users: Promise<UserView[]> | null = null
let usersOf = ''
/**
 * Whom a follow-up can be handed to (GET /v1/users, read once): active reps
 * and managers; a manager's only within the teams it manages (GET /v1/me,
 * /v1/teams/{id}), as the service allows.
 */
function assignable(): Promise<UserView[]> {
  const session = loadSession()
  const who = session === null ? '' : `${session.tenantId}/${session.login}`
  if (who !== usersOf) {
    users = null
    usersOf = who
  }
  users ??= (async () => {
    const [list, me] = await Promise.all([api.get('/v1/users'), api.get('/v1/me')])
    const people = list.users.filter((u) => u.active && (u.role === 'rep' || u.role === 'manager'))
    if (me.role !== 'manager') return people
    const teams = await Promise.all(
      me.teams.filter((t) => t.role === 'manager').map((t) => api.get('/v1/teams/{id}', { path: { id: t.id } })),
    )
    const members = new Set(teams.flatMap((t) => t.members.map((m) => m.login)))
    return people.filter((u) => members.has(u.login))
  })()
  users.catch(() => {
    users = null
  })
  return users
}

interface Props {
  item: FollowUpView
  zone: Zone
  /** Which actions to offer (open follow-ups only). */
  actions: readonly FollowUpAction[]
  showAssignee?: boolean
  /** Tap on the item's text: e.g. open the customer. */
  onOpen?: () => void
  /** A command went out (sent or kept on the phone). */
  onIssued: (outcome: Outcome) => void
  /** The follow-up changed meanwhile (409/412): read again. */
  onStale: () => void
}

type Errors = Record<string, string | undefined>

/** A follow-up in a list: who, what, when (in the tenant's zone), and its actions with their forms. */
export function FollowUpItem({ item, zone, actions, showAssignee, onOpen, onIssued, onStale }: Props) {
  const [open, setOpen] = useState<FollowUpAction | null>(null)
  const [outcome, setOutcome] = useState('')
  const [due, setDue] = useState('')
  const [reason, setReason] = useState('')
  const [people, setPeople] = useState<UserView[] | null>(null)
  const [assignee, setAssignee] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const when = formatDue(zone, item.due_at)
  const customer = item.customer_name ?? '客户'
  const isOpen = item.status === 'open'

  function show(action: FollowUpAction) {
    setErrors({})
    setFormError(null)
    if (open === action) {
      setOpen(null)
      return
    }
    setOpen(action)
    if (action === 'reschedule') setDue(formatDateTime(zone, item.due_at))
    if (action === 'reassign' && people === null) {
      assignable().then(setPeople, (error: unknown) => setFormError(describeError(error).message))
    }
  }

  function local(action: FollowUpAction): Errors {
    switch (action) {
      case 'complete':
        return { outcome: textError(outcome.replace(/[\n\t]/g, ' '), 2000) }
      case 'reschedule':
        return { due_at: dueError(zone, due), reason: textError(reason.replace(/[\n\t]/g, ' '), 500) }
      case 'cancel':
        return { reason: textError(reason.replace(/[\n\t]/g, ' '), 500, true) }
      case 'reassign':
        return { assignee: assignee === '' ? '请选择转派给谁' : undefined }
    }
  }

  async function submit(action: FollowUpAction) {
    const found = local(action)
    setErrors(found)
    setFormError(null)
    if (Object.values(found).some((e) => e !== undefined)) return
    setBusy(true)
    const common = { method: 'post' as const, params: { id: item.id }, ifMatch: item.version, customerId: item.customer_id }
    try {
      const sent =
        action === 'complete'
          ? await outbox.issue({
              ...common,
              path: '/v1/follow-ups/{id}/complete',
              body: outcome.trim() ? { outcome: outcome.trim() } : {},
              label: '完成跟进',
            })
          : action === 'reschedule'
            ? await outbox.issue({
                ...common,
                path: '/v1/follow-ups/{id}/reschedule',
                body: {
                  due_at: toRfc3339(parseLocal(zone, due) ?? 0),
                  ...(reason.trim() ? { reason: reason.trim() } : {}),
                },
                label: '跟进改期',
              })
            : action === 'cancel'
              ? await outbox.issue({
                  ...common,
                  path: '/v1/follow-ups/{id}/cancel',
                  body: { reason: reason.trim() },
                  label: '取消跟进',
                })
              : await outbox.issue({
                  ...common,
                  path: '/v1/follow-ups/{id}/reassign',
                  body: { assignee },
                  label: '转派跟进',
                })
      setOpen(null)
      onIssued(sent)
    } catch (error) {
      if (error instanceof ProblemError && (error.status === 409 || error.status === 412)) {
        setOpen(null)
        void Taro.showToast({ title: '跟进已被他人修改，已刷新', icon: 'none' })
        onStale()
        return
      }
      if (error instanceof ProblemError && Object.keys(error.fieldErrors).length > 0) {
        setErrors(Object.fromEntries(Object.entries(error.fieldErrors).map(([k, v]) => [k, v[0]])))
      }
      const described = describeError(error)
      setFormError(described.detail ?? described.message)
    } finally {
      setBusy(false)
    }
  }

  const form = `fu-${open ?? ''}-${item.id.slice(0, 8)}`
  return (
    <View
      className={`fu ${item.overdue ? 'fu--overdue' : ''}`}
      ariaRole='listitem'
      ariaLabel={`${customer}，${typeName(item.type)}：${item.subject}，${when}${item.overdue ? '，已逾期' : ''}`}
    >
      <View className='fu__main' ariaRole={onOpen ? 'link' : undefined} onClick={onOpen}>
        <View className='fu__top'>
          <Text className='fu__customer'>{customer}</Text>
          <Text className={`fu__due ${item.overdue ? 'fu__due--overdue' : ''}`}>
            {item.overdue ? '逾期 · ' : ''}
            {item.status === 'done' && item.completed_at ? `完成于 ${formatDue(zone, item.completed_at)}` : when}
          </Text>
        </View>
        <Text className='fu__subject'>
          <Text className='fu__type'>{typeName(item.type)}</Text> {item.subject}
        </Text>
        {showAssignee && <Text className='fu__side'>负责人：{item.assignee}</Text>}
        {item.status === 'done' && item.outcome && <Text className='fu__side'>结果：{item.outcome}</Text>}
        {item.status === 'cancelled' && item.cancel_reason && <Text className='fu__side'>取消原因：{item.cancel_reason}</Text>}
      </View>
      {isOpen && actions.length > 0 && (
        <View className='fu__actions'>
          {actions.map((a) => (
            <View
              key={a}
              className={`fu__action ${open === a ? 'fu__action--on' : ''}`}
              ariaRole='button'
              ariaLabel={ACTION_NAME[a]}
              onClick={() => show(a)}
            >
              {ACTION_NAME[a]}
            </View>
          ))}
        </View>
      )}
      {open !== null && (
        <View className='fu__form' ariaRole='group' ariaLabel={`${ACTION_NAME[open]}跟进`}>
          {open === 'complete' && (
            <Field form={form} name='outcome' label='跟进结果（选填）' value={outcome} onChange={setOutcome} error={errors.outcome} maxlength={2000} multiline placeholder='如：客户同意下周签约' />
          )}
          {open === 'reschedule' && (
            <>
              <Field form={form} name='due_at' label='新的时间' value={due} onChange={setDue} error={errors.due_at} placeholder='2026-12-08 14:30' hint={`按 ${zone.timeZone} 时间`} />
              <Field form={form} name='reason' label='原因（选填）' value={reason} onChange={setReason} error={errors.reason} maxlength={500} />
            </>
          )}
          {open === 'cancel' && (
            <Field form={form} name='reason' label='取消原因' value={reason} onChange={setReason} error={errors.reason} maxlength={500} multiline placeholder='如：客户已另行采购' />
          )}
          {open === 'reassign' && (
            <View className='fu__people' ariaRole='radiogroup' ariaLabel='转派给'>
              {people === null && formError === null && <Text className='fu__side'>加载中…</Text>}
              {people?.map((u) => (
                <View
                  key={u.login}
                  className={`fu__chip ${assignee === u.login ? 'fu__chip--on' : ''}`}
                  ariaRole='radio'
                  aria-checked={assignee === u.login ? 'true' : 'false'}
                  ariaLabel={u.display_name ? `${u.display_name}（${u.login}）` : u.login}
                  onClick={() => setAssignee(u.login)}
                >
                  {u.display_name ?? u.login}
                </View>
              ))}
              {errors.assignee !== undefined && (
                <View className='field__error' ariaRole='alert'>
                  {errors.assignee}
                </View>
              )}
            </View>
          )}
          {formError !== null && (
            <View className='fu__error' ariaRole='alert'>
              {formError}
            </View>
          )}
          <Button
            className='fu__submit'
            type='primary'
            size='mini'
            disabled={busy}
            loading={busy}
            ariaLabel={`确认${ACTION_NAME[open]}`}
            onClick={() => void submit(open)}
          >
            确认{ACTION_NAME[open]}
          </Button>
        </View>
      )}
    </View>
  )
}
