/**
 * A client built on its first use rather than at cold start. Building an SDK client is most of what a
 * client costs at init (its configuration resolved, its protocol set up), and many invocations never use
 * a given one: the API's GET needs no Step Functions, a poll presigns with S3 only when it submits. The
 * object stands in for the client wherever one is passed (adapters, the presigner, lib-storage): every
 * property is the real client's, read on demand; the client is built once, on the first read.
 */
export function lazyClient<T extends object>(build: () => T): T {
  let client: T | undefined;
  const real = () => (client ??= build());
  return new Proxy({} as T, {
    get(_target, name) {
      if (name === BUILD) return real;
      const value = Reflect.get(real(), name);
      return typeof value === 'function' ? value.bind(real()) : value;
    },
    has: (_target, name) => Reflect.has(real(), name),
    set: (_target, name, value) => Reflect.set(real(), name, value),
  });
}

const BUILD = Symbol('the lazy client, built');

/**
 * `wrap` applied to the client (a wrapper that changes the client itself, such as the tracer's
 * middleware): when it is built, if it is a lazy client, so that wrapping it does not build it at cold start.
 */
export function whenBuilt<T extends object>(client: T, wrap: (client: T) => T): T {
  const build = (client as { [BUILD]?: () => T })[BUILD];
  return build ? lazyClient(() => wrap(build())) : wrap(client);
}
