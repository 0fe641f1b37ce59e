/**
 * The HTTP API on a socket: the fastify app of app.ts bound to a port, 127.0.0.1 unless told
 * otherwise; HTTPS when given `tls`.
 *
 * ```ts
 * const http = createHttpServer(api, { token, metrics });           // or { …, tls: { cert, key } }
 * const { port } = await http.listen(8080);
 * …
 * await http.close();          // stops accepting, lets requests in flight finish
 * ```
 *
 * Over TLS the app is served by a node:https server of our own that hands every request to the
 * app's router (`app.routing`), so the app stays one `buildHttpApp` whatever the socket: routes,
 * the bearer token and the body limit apply unchanged.
 */
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { type ServerTlsOptions, serverTlsOptions } from '../../runtime/tls.js';
import { buildHttpApp, type HttpApi, type HttpAppOptions } from './app.js';

export interface HttpServerOptions extends HttpAppOptions {
  /** Serve HTTPS (certificate, key, optional client CA). Default: plain HTTP. */
  tls?: ServerTlsOptions;
}

export interface HttpServer {
  listen(port: number, host?: string): Promise<{ port: number }>;
  close(): Promise<void>;
}

export function createHttpServer(api: HttpApi, options: HttpServerOptions = {}): HttpServer {
  const { tls, ...appOptions } = options;
  const app = buildHttpApp(api, appOptions);
  if (tls === undefined) {
    return {
      async listen(port: number, host = '127.0.0.1') {
        await app.listen({ port, host });
        return { port: (app.server.address() as AddressInfo).port };
      },
      close: () => app.close(),
    };
  }
  const server = https.createServer(serverTlsOptions(tls), (req, res) => app.routing(req, res));
  // The timeouts fastify gives its own server, so that HTTPS behaves as HTTP does.
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  server.headersTimeout = app.server.headersTimeout;
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    app.log.debug(
      { remote: `${socket.remoteAddress}:${socket.remotePort}`, err: err.message },
      'closing connection: TLS handshake failed',
    );
    // node reports a failed or timed-out handshake here but leaves the socket open.
    socket.destroy();
  });
  return {
    async listen(port: number, host = '127.0.0.1') {
      await app.ready();
      const listening = once(server, 'listening');
      server.listen(port, host);
      await listening;
      return { port: (server.address() as AddressInfo).port };
    },
    async close() {
      const closed = server.listening ? once(server, 'close') : Promise.resolve();
      server.close();
      // Keep-alive connections with no request in flight would hold close() open until they time out.
      server.closeIdleConnections();
      await Promise.all([closed, app.close()]);
    },
  };
}
