import { describe, expect, it } from 'vitest'

import { amountError, emailError, phoneError, textError } from './validate'

describe('the service rules, on the device', () => {
  it('phone: mainland mobile or E.164', () => {
    expect(phoneError('13800138000')).toBeUndefined()
    expect(phoneError('+8613800138000')).toBeUndefined()
    expect(phoneError('')).toBeUndefined()
    for (const bad of ['1380013800', '23800138000', '+0123', '+1', '138-0013-8000', '12345']) {
      expect(phoneError(bad), bad).toBeDefined()
    }
  })
  it('email: one @ and a dotted domain', () => {
    expect(emailError('li@example.com')).toBeUndefined()
    expect(emailError('李@例子.中国')).toBeUndefined()
    for (const bad of ['li', 'li@example', '@example.com', 'l i@example.com', 'li@-x.com']) {
      expect(emailError(bad), bad).toBeDefined()
    }
  })
  it('text: required, bounded by code points, one line', () => {
    expect(textError('', 100, true)).toBe('必填')
    expect(textError('张三', 2)).toBeUndefined()
    expect(textError('张三丰', 2)).toBeDefined()
    expect(textError('a\nb', 10)).toBeDefined()
  })
  it('amount: two decimals, > 0 for purchases', () => {
    expect(amountError('1999.00', true)).toBeUndefined()
    expect(amountError('0', true)).toBeDefined()
    expect(amountError('0', false)).toBeUndefined()
    expect(amountError('1.234', false)).toBeDefined()
    expect(amountError('abc', false)).toBeDefined()
  })
})
