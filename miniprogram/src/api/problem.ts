import type { components } from './schema'

/** The body of every error answer of the service (RFC 9457). */
export type Problem = components['schemas']['Problem']

/** Field name → its messages, as in a problem's `errors`. */
export type FieldErrors = Readonly<Record<string, readonly string[]>>

/** An error answer of the service (or a non-problem error status, read as one). */
export class ProblemError extends Error {
  readonly status: number
  readonly type: string
  readonly title: string
  readonly detail: string
  readonly fieldErrors: FieldErrors
  /** Seconds, from `Retry-After` (429, 503). */
  readonly retryAfter: number | undefined

  constructor(problem: Problem, retryAfter?: number) {
    super(problem.detail || problem.title)
    this.name = 'ProblemError'
    this.status = problem.status
    this.type = problem.type
    this.title = problem.title
    this.detail = problem.detail
    this.fieldErrors = problem.errors ?? {}
    this.retryAfter = retryAfter
  }

  /** The first message for `field`, if the service named it. */
  fieldError(field: string): string | undefined {
    return this.fieldErrors[field]?.[0]
  }
}

/** The request never got an answer: no network, DNS, TLS, timeout, aborted. */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NetworkError'
  }
}

/** True when `value` has the shape of a Problem body. */
export function isProblem(value: unknown): value is Problem {
  if (value === null || typeof value !== 'object') return false
  const v = value as Record<string, unknown>
  const errorsOk =
    v.errors === undefined ||
    v.errors === null ||
    (typeof v.errors === 'object' &&
      Object.values(v.errors).every(
        (messages) => Array.isArray(messages) && messages.every((m) => typeof m === 'string'),
      ))
  return (
    typeof v.type === 'string' &&
    typeof v.title === 'string' &&
    typeof v.status === 'number' &&
    typeof v.detail === 'string' &&
    errorsOk
  )
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: '请求有误',
  401: '登录已失效，请重新登录',
  403: '没有权限执行此操作',
  404: '未找到',
  409: '数据已被他人修改，请刷新后重试',
  412: '数据已变化，请刷新后重试',
  413: '内容过大',
  422: '填写的内容有误',
  429: '尝试次数过多，请稍后再试',
  500: '服务出错了，请稍后再试',
  502: '服务暂不可用，请稍后再试',
  503: '服务繁忙，请稍后再试',
  504: '服务响应超时，请稍后再试',
}

/** What to show a person for `error`: a Chinese headline and the service's own words. */
export function describeError(error: unknown): { message: string; detail?: string } {
  if (error instanceof ProblemError) {
    const message =
      STATUS_TEXT[error.status] ?? (error.status >= 500 ? '服务出错了，请稍后再试' : '请求失败')
    const wait = error.retryAfter !== undefined ? `（${error.retryAfter} 秒后可重试）` : ''
    return { message: message + wait, detail: error.detail || undefined }
  }
  if (error instanceof NetworkError) {
    return { message: '网络连接失败，请检查网络后重试', detail: error.message || undefined }
  }
  return { message: '出错了，请重试', detail: error instanceof Error ? error.message : undefined }
}
