import type { ReactNode } from 'react'
import { Input, Text, Textarea, View } from '@tarojs/components'

import './Field.css'

interface Props {
  /** The form's prefix and the field's name: the ids are `${form}-${name}` and `…-error`. */
  form: string
  name: string
  label: string
  value: string
  onChange: (value: string) => void
  error?: string | undefined
  placeholder?: string
  type?: 'text' | 'number' | 'digit'
  multiline?: boolean
  maxlength?: number
  /** Shown under the input when there is no error. */
  hint?: ReactNode
}

/** A labelled input with its error (the service's or the form's own) right under it. */
export function Field(props: Props) {
  const id = `${props.form}-${props.name}`
  const invalid = props.error !== undefined && props.error !== ''
  const common = {
    id,
    className: `field__input ${invalid ? 'field__input--invalid' : ''}`,
    value: props.value,
    placeholder: props.placeholder ?? '',
    ariaLabel: props.label,
    maxlength: props.maxlength ?? 140,
    onInput: (e: { detail: { value: string } }) => props.onChange(e.detail.value),
  }
  return (
    <View className='field'>
      <Text className='field__label'>{props.label}</Text>
      {props.multiline ? <Textarea {...common} autoHeight /> : <Input {...common} type={props.type ?? 'text'} />}
      {invalid ? (
        <View className='field__error' id={`${id}-error`} ariaRole='alert'>
          {props.error}
        </View>
      ) : (
        props.hint !== undefined && <Text className='field__hint'>{props.hint}</Text>
      )}
    </View>
  )
}
