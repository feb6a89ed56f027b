import { useState } from 'react'
import { Button, Text, View } from '@tarojs/components'

import { describeError, outbox, ProblemError, type Outcome } from '../../api'
import { Field } from '../../components/Field'
import { FOLLOW_UP_TYPES, REMINDERS, type FollowUpType } from '../../followups/labels'
import { dueError, nextWholeHour, parseLocal, toRfc3339, type Zone } from '../../followups/time'
import { textError } from '../../validate'

import '../../components/FollowUpItem.css'

interface Props {
  customerId: string
  zone: Zone
  onClose: () => void
  onIssued: (outcome: Outcome) => void
}

type Errors = Record<string, string | undefined>

/** 安排跟进: type, subject, due date and time (in the tenant's zone), reminder lead, notes. */
export function ScheduleForm({ customerId, zone, onClose, onIssued }: Props) {
  const [type, setType] = useState<FollowUpType>('call')
  const [subject, setSubject] = useState('')
  const [due, setDue] = useState(() => nextWholeHour(zone))
  const [remind, setRemind] = useState(15)
  const [notes, setNotes] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit() {
    const found: Errors = {
      subject: textError(subject, 200, true),
      due_at: dueError(zone, due),
      notes: textError(notes.replace(/[\n\t]/g, ' '), 5000),
    }
    setErrors(found)
    setFormError(null)
    if (Object.values(found).some((e) => e !== undefined)) return
    const instant = parseLocal(zone, due)
    if (instant === undefined) return
    setBusy(true)
    try {
      const outcome = await outbox.issue({
        method: 'post',
        path: '/v1/follow-ups',
        body: {
          customer_id: customerId,
          type,
          subject: subject.trim(),
          due_at: toRfc3339(instant),
          remind_before_minutes: remind,
          ...(notes.trim() ? { notes: notes.trim() } : {}),
        },
        label: '安排跟进',
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

  return (
    <View className='panel' ariaRole='dialog' ariaLabel='安排跟进'>
      <View className='panel__head'>
        <Text className='panel__title'>安排跟进</Text>
        <View className='panel__close' ariaRole='button' ariaLabel='关闭' onClick={onClose}>
          ×
        </View>
      </View>
      <View className='fu__chips' ariaRole='radiogroup' ariaLabel='跟进方式'>
        {FOLLOW_UP_TYPES.map((t) => (
          <View
            key={t.code}
            className={`fu__chip ${type === t.code ? 'fu__chip--on' : ''}`}
            ariaRole='radio'
            aria-checked={type === t.code ? 'true' : 'false'}
            ariaLabel={t.name}
            onClick={() => setType(t.code)}
          >
            {t.name}
          </View>
        ))}
      </View>
      <Field form='schedule' name='subject' label='主题' value={subject} onChange={setSubject} error={errors.subject} maxlength={200} placeholder='如：回访报价' />
      <Field
        form='schedule'
        name='due_at'
        label='时间'
        value={due}
        onChange={setDue}
        error={errors.due_at}
        placeholder='2026-12-08 14:30'
        hint={`日期和时间，按 ${zone.timeZone} 时间`}
      />
      <View className='field'>
        <Text className='field__label'>提醒</Text>
        <View className='fu__chips' ariaRole='radiogroup' ariaLabel='提醒'>
          {REMINDERS.map((r) => (
            <View
              key={r.minutes}
              className={`fu__chip ${remind === r.minutes ? 'fu__chip--on' : ''}`}
              ariaRole='radio'
              aria-checked={remind === r.minutes ? 'true' : 'false'}
              ariaLabel={r.name}
              onClick={() => setRemind(r.minutes)}
            >
              {r.name}
            </View>
          ))}
        </View>
        {errors.remind_before_minutes !== undefined && (
          <View className='field__error' ariaRole='alert'>
            {errors.remind_before_minutes}
          </View>
        )}
      </View>
      <Field form='schedule' name='notes' label='备注（选填）' value={notes} onChange={setNotes} error={errors.notes} maxlength={5000} multiline />
      {formError !== null && (
        <View className='panel__error' ariaRole='alert'>
          {formError}
        </View>
      )}
      <Button className='panel__submit' type='primary' disabled={busy} loading={busy} ariaLabel='保存跟进' onClick={() => void submit()}>
        保存
      </Button>
    </View>
  )
}
