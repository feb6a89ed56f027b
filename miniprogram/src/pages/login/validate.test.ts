import { describe, expect, it } from 'vitest'

import { splitFieldErrors, validateLogin } from './validate'

describe('sign-in form', () => {
  it('names each missing or malformed field in Chinese', () => {
    expect(validateLogin({ tenant_id: '', login: ' ', password: '' })).toEqual({
      tenant_id: '请输入租户 ID',
      login: '请输入账号',
      password: '请输入密码',
    })
    expect(validateLogin({ tenant_id: 'not-a-uuid', login: 'rep', password: 'x' })).toEqual({
      tenant_id: '租户 ID 格式不正确（应为 UUID）',
    })
    expect(
      validateLogin({ tenant_id: '00000000-0000-4000-8000-000000000DE0', login: 'rep', password: 'x' }),
    ).toEqual({})
  })

  it("puts a problem's field errors next to their fields, the rest in the form's message", () => {
    const { byField, other } = splitFieldErrors(
      { login: ['too long', 'bad character'], captcha: ['wrong'] },
      ['tenant_id', 'login', 'password'] as const,
    )
    expect(byField).toEqual({ login: 'too long；bad character' })
    expect(other).toEqual(['captcha: wrong'])
  })
})
