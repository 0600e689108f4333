import type { Interceptor } from "@connectrpc/connect";

/**
 * A bearer token, or a function that returns the current one (it is
 * called for every request, so it can refresh an expiring token).
 */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * bearerAuth returns an interceptor that sends `Authorization: Bearer
 * <token>` with every call, unless the call sets its own Authorization
 * header. Pass it to a transport:
 *
 *   createConnectTransport({ baseUrl, interceptors: [bearerAuth(token)] })
 */
export function bearerAuth(token: TokenSource): Interceptor {
  return (next) => async (req) => {
    if (!req.header.has("Authorization")) {
      const value = typeof token === "function" ? await token() : token;
      if (value) {
        req.header.set("Authorization", `Bearer ${value}`);
      }
    }
    return next(req);
  };
}
