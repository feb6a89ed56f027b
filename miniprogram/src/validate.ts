/**
 * The service's rules for what a person types (events::values), checked on
 * the device so the form can say so before sending; the service checks
 * again and its field errors are shown the same way.
 */

/** Mainland mobile (11 digits, leading 1) or E.164 (+ and 2–15 digits, not starting with 0). */
export function phoneError(raw: string): string | undefined {
  const value = raw.trim()
  if (value === '') return undefined
  if (/^1\d{10}$/.test(value) || /^\+[1-9]\d{1,14}$/.test(value)) return undefined
  return '请输入 11 位手机号（以 1 开头）或国际号码（如 +8613800138000）'
}

/** Looks like name@example.com: one @, a dotted domain, no spaces, at most 254 characters. */
export function emailError(raw: string): string | undefined {
  const value = raw.trim()
  if (value === '') return undefined
  const at = value.lastIndexOf('@')
  const local = value.slice(0, at)
  const labels = value.slice(at + 1).split('.')
  const ok =
    at > 0 &&
    value.length <= 254 &&
    !/\s/.test(value) &&
    local.length <= 64 &&
    !local.includes('@') &&
    labels.length >= 2 &&
    labels.every((l) => l !== '' && !l.startsWith('-') && !l.endsWith('-') && /^[\p{L}\p{N}-]+$/u.test(l))
  return ok ? undefined : '请输入有效的邮箱，如 name@example.com'
}

/** One line of 1–`max` characters (counted as the service does, by code points). */
export function textError(raw: string, max: number, required = false): string | undefined {
  const value = raw.trim()
  if (value === '') return required ? '必填' : undefined
  if (Array.from(value).length > max) return `最多 ${max} 个字`
  if (Array.from(value).some((ch) => (ch.codePointAt(0) ?? 0) < 0x20 || ch === '\u007f')) {
    return '不能包含换行或控制字符'
  }
  return undefined
}

/** Yuan with at most two decimals; `positive`: > 0, else ≥ 0; at most 10¹² yuan. */
export function amountError(raw: string, positive: boolean): string | undefined {
  const value = raw.trim()
  if (value === '') return positive ? '必填' : undefined
  if (!/^\d+(\.\d{1,2})?$/.test(value)) return '请输入金额，如 1999.00'
  const n = Number(value)
  if (positive && n <= 0) return '金额必须大于 0'
  if (n > 1e12) return '金额过大'
  return undefined
}
