/**
 * The HTTP API on a socket: the fastify app of app.ts bound to a port, 127.0.0.1 unless told
 * otherwise.
 *
 * ```ts
 * const http = createHttpServer(api, { token, metrics });
 * const { port } = await http.listen(8080);
 * …
 * await http.close();          // stops accepting, lets requests in flight finish
 * ```
 */
import type { AddressInfo } from 'node:net';
import { buildHttpApp, type HttpApi, type HttpAppOptions } from './app.js';

export interface HttpServer {
  listen(port: number, host?: string): Promise<{ port: number }>;
  close(): Promise<void>;
}

export function createHttpServer(api: HttpApi, options: HttpAppOptions = {}): HttpServer {
  const app = buildHttpApp(api, options);
  return {
    async listen(port: number, host = '127.0.0.1') {
      await app.listen({ port, host });
      return { port: (app.server.address() as AddressInfo).port };
    },
    close: () => app.close(),
  };
}
