export type LoginFields = { tenant_id: string; login: string; password: string }
export type LoginErrors = Partial<Record<keyof LoginFields, string>>

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What can be told before asking the service. */
export function validateLogin(fields: LoginFields): LoginErrors {
  const errors: LoginErrors = {}
  if (fields.tenant_id.trim() === '') errors.tenant_id = '请输入租户 ID'
  else if (!UUID.test(fields.tenant_id.trim())) errors.tenant_id = '租户 ID 格式不正确（应为 UUID）'
  if (fields.login.trim() === '') errors.login = '请输入账号'
  if (fields.password === '') errors.password = '请输入密码'
  return errors
}

/**
 * Splits a problem's field errors: those of a field on the form go next to
 * it, the others into the form's message.
 */
export function splitFieldErrors<K extends string>(
  fieldErrors: Readonly<Record<string, readonly string[]>>,
  known: readonly K[],
): { byField: Partial<Record<K, string>>; other: string[] } {
  const byField: Partial<Record<K, string>> = {}
  const other: string[] = []
  for (const [field, messages] of Object.entries(fieldErrors)) {
    const text = messages.join('；')
    if ((known as readonly string[]).includes(field)) byField[field as K] = text
    else other.push(`${field}: ${text}`)
  }
  return { byField, other }
}
