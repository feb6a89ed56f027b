/**
 * Types that read a route's parameters, body and answer out of the
 * generated `paths` (schema.d.ts), so a call cannot drift from the service.
 */
import type { paths } from './schema'

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'

/** The routes that accept `M`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]-?: [NonNullable<paths[P][M]>] extends [never] ? never : P
}[keyof paths]

/** The operation of `M` on `P`. */
export type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>

type JsonContent<T> = T extends { content: { 'application/json': infer B } } ? B : never

type Responses<O> = O extends { responses: infer R } ? R : never

/** The JSON of the operation's 2xx answers (`undefined` for 204). */
export type SuccessBody<O> = {
  [K in keyof Responses<O>]: K extends 204
    ? undefined
    : K extends 200 | 201 | 202
      ? JsonContent<Responses<O>[K]>
      : never
}[keyof Responses<O>]

type Parameters_<O> = O extends { parameters: infer P } ? P : never
type Part<O, K extends 'query' | 'path' | 'header'> = Parameters_<O> extends { [k in K]?: infer T }
  ? T
  : never

type RequestBody<O> = O extends { requestBody?: infer B } ? JsonContent<NonNullable<B>> : never

/** `{}` when `T` is nothing, `{ K?: T }` when every field of T is optional, else `{ K: T }`. */
type Slot<K extends string, T> = [T] extends [never]
  ? { [k in K]?: never }
  : [T] extends [undefined]
    ? { [k in K]?: never }
    : undefined extends T
      ? { [k in K]?: Exclude<T, undefined> }
      : // eslint-disable-next-line @typescript-eslint/no-empty-object-type
        {} extends T
        ? { [k in K]?: T }
        : { [k in K]: T }

type BodySlot<O> = [RequestBody<O>] extends [never]
  ? { body?: never }
  : O extends { requestBody: unknown }
    ? { body: RequestBody<O> }
    : { body?: RequestBody<O> }

/** What a call passes: path and query parameters, body, extra headers. */
export type RequestOptions<O> = Slot<'path', Part<O, 'path'>> &
  Slot<'query', Part<O, 'query'>> &
  BodySlot<O> & {
    /** Extra headers (Idempotency-Key, If-Match, …). */
    headers?: Record<string, string>
  }

type RequiredKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : K }[keyof T]

/** The options argument, optional when nothing in it is required. */
export type OptionsArg<O> = [RequiredKeys<RequestOptions<O>>] extends [never]
  ? [options?: RequestOptions<O>]
  : [options: RequestOptions<O>]
