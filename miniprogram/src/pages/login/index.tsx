import { useState, type ReactNode } from 'react'
import { Button, Form, Input, Label, Text, View } from '@tarojs/components'
import Taro, { useRouter } from '@tarojs/taro'

import { api, describeError, lastTenantId, ProblemError, saveSession } from '../../api'
import { HOME_PAGE } from '../../routes'
import { splitFieldErrors, validateLogin, type LoginErrors, type LoginFields } from './validate'

import './index.css'

const FIELDS = ['tenant_id', 'login', 'password'] as const

export default function LoginPage() {
  const { params } = useRouter()
  const [fields, setFields] = useState<LoginFields>(() => ({
    tenant_id: params.tenant ?? lastTenantId(),
    login: '',
    password: '',
  }))
  const [errors, setErrors] = useState<LoginErrors>({})
  const [formError, setFormError] = useState<{ message: string; detail?: string } | null>(
    params.expired === '1' ? { message: '登录已过期，请重新登录' } : null,
  )
  const [busy, setBusy] = useState(false)

  const set = (name: keyof LoginFields) => (event: { detail: { value: string } }) => {
    const value = event.detail.value
    setFields((f) => ({ ...f, [name]: value }))
    setErrors((e) => ({ ...e, [name]: undefined }))
  }

  const submit = async () => {
    if (busy) return
    const local = validateLogin(fields)
    setErrors(local)
    if (Object.keys(local).length > 0) {
      setFormError(null)
      return
    }
    setBusy(true)
    setFormError(null)
    try {
      const session = await api.post('/v1/auth/login', {
        body: {
          tenant_id: fields.tenant_id.trim(),
          login: fields.login.trim(),
          password: fields.password,
        },
      })
      saveSession(session)
      await Taro.reLaunch({ url: HOME_PAGE })
    } catch (error) {
      const described = describeError(error)
      if (error instanceof ProblemError) {
        const { byField, other } = splitFieldErrors(error.fieldErrors, FIELDS)
        setErrors(byField)
        const message = error.status === 401 ? '租户、账号或密码不正确' : described.message
        const detail = [error.detail, ...other].filter((t) => t !== '').join('\n')
        setFormError({ message, ...(detail !== '' ? { detail } : {}) })
      } else {
        setFormError(described)
      }
    } finally {
      setBusy(false)
    }
  }

  const field = (name: keyof LoginFields, label: string, input: ReactNode) => (
    <View className='login__field'>
      <Label className='login__label' for={`login-${name}`}>
        {label}
      </Label>
      {input}
      {errors[name] !== undefined && (
        <View className='login__error' id={`login-${name}-error`} ariaRole='alert'>
          {errors[name]}
        </View>
      )}
    </View>
  )

  return (
    <View className='login'>
      <View className='login__head'>
        <Text className='login__title'>销售助手</Text>
        <Text className='login__subtitle'>登录后查看和跟进您的客户</Text>
      </View>
      <Form onSubmit={() => void submit()}>
        {field(
          'tenant_id',
          '租户 ID',
          <Input
            id='login-tenant_id'
            className={`login__input ${errors.tenant_id ? 'login__input--invalid' : ''}`}
            ariaLabel='租户 ID'
            placeholder='管理员提供的租户 ID'
            value={fields.tenant_id}
            maxlength={36}
            onInput={set('tenant_id')}
          />,
        )}
        {field(
          'login',
          '账号',
          <Input
            id='login-login'
            className={`login__input ${errors.login ? 'login__input--invalid' : ''}`}
            ariaLabel='账号'
            placeholder='登录账号'
            value={fields.login}
            maxlength={64}
            onInput={set('login')}
          />,
        )}
        {field(
          'password',
          '密码',
          <Input
            id='login-password'
            className={`login__input ${errors.password ? 'login__input--invalid' : ''}`}
            ariaLabel='密码'
            placeholder='密码'
            password
            value={fields.password}
            onInput={set('password')}
            onConfirm={() => void submit()}
          />,
        )}
        {formError !== null && (
          <View className='login__form-error' ariaRole='alert'>
            <Text className='login__form-error-message'>{formError.message}</Text>
            {formError.detail !== undefined && (
              <Text className='login__form-error-detail'>{formError.detail}</Text>
            )}
          </View>
        )}
        <Button
          className='login__submit'
          type='primary'
          // H5 renders disabled={false} as disabled="false", which Taro's
          // [disabled] style greys out: leave the attribute off instead.
          disabled={busy || undefined}
          ariaLabel='登录'
          onClick={() => void submit()}
        >
          {busy ? '登录中…' : '登录'}
        </Button>
      </Form>
    </View>
  )
}
