/**
 * The OpenAPI 3.1 document of the HTTP API, served at /v1/openapi.json. Built from the same
 * limits and error table the app uses, so the document cannot drift from the node it describes
 * (test/frontends/http validates it and checks every route of the app is in it).
 */
import { CONSISTENCY_LEVELS, type Consistency } from '../../core/replication/messages.js';
import { ERROR_STATUSES } from './errors.js';

export interface OpenApiLimits {
  maxValueBytes: number;
  maxKeyBytes: number;
  maxListLimit: number;
  defaultConsistency: Consistency;
}

const ref = (name: string) => ({ $ref: `#/components/responses/${name}` });

export function openApiDocument(limits: OpenApiLimits) {
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const keyParam = {
    name: 'key',
    in: 'path',
    required: true,
    description:
      `The key: the rest of the path, percent-decoded, as UTF-8 bytes (at most ${limits.maxKeyBytes}). ` +
      'Slashes need no escaping.',
    schema: { type: 'string', minLength: 1 },
  };
  const consistencyParam = {
    name: 'consistency',
    in: 'query',
    required: false,
    description: `Consistency level (default ${limits.defaultConsistency}); see docs/REPLICATION.md.`,
    schema: { type: 'string', enum: [...CONSISTENCY_LEVELS], default: limits.defaultConsistency },
  };
  const contextHeader = {
    name: 'X-Arpeggio-Context',
    in: 'header',
    required: false,
    description: 'The causal context from an earlier reply on this key (base64url JSON version vector).',
    schema: { type: 'string' },
  };
  const contextOut = {
    description: 'The causal context to send back at session level.',
    schema: { type: 'string' },
  };
  const etagOut = { description: 'A hash of the value; If-Match takes it.', schema: { type: 'string' } };
  const clusterErrors = {
    '400': ref('BadRequest'),
    '401': ref('Unauthorized'),
    '503': ref('Unavailable'),
    '504': ref('Indefinite'),
  };
  const codes = Object.keys(ERROR_STATUSES);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Arpeggio HTTP API',
      version: '1',
      description:
        'Key-value operations at a chosen consistency level, the cluster view, health, readiness and ' +
        'metrics of one Arpeggio node. Any node serves any key. Errors carry a stable code and ' +
        '`definite` (true: the operation did not happen; false: it may have).',
    },
    servers: [{ url: '/' }],
    security: [{}, { bearer: [] }],
    paths: {
      '/v1/kv/{key}': {
        parameters: [keyParam],
        get: {
          operationId: 'getKey',
          summary: 'Read a value',
          parameters: [consistencyParam, contextHeader],
          responses: {
            '200': {
              description: 'The value, as stored.',
              headers: {
                ETag: etagOut,
                'X-Arpeggio-Context': contextOut,
                'X-Arpeggio-Siblings': {
                  description: 'Concurrent values kept (siblings mode)',
                  schema: { type: 'string' },
                },
              },
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '404': errorResponse('KEY_NOT_FOUND: no live value at this key (or ROUTE_NOT_FOUND).'),
            '414': ref('KeyTooLarge'),
            ...clusterErrors,
          },
        },
        put: {
          operationId: 'putKey',
          summary: 'Write a value (optionally with a TTL, or conditionally)',
          parameters: [
            consistencyParam,
            {
              name: 'ttl_ms',
              in: 'query',
              required: false,
              description: 'Expire the value this many milliseconds from now.',
              schema: { type: 'integer', minimum: 1 },
            },
            {
              name: 'If-Match',
              in: 'header',
              required: false,
              description:
                '`*`: write only if the key has a value. An ETag: compare-and-set through consensus ' +
                '(412 if the current value has another ETag).',
              schema: { type: 'string' },
            },
            {
              name: 'If-None-Match',
              in: 'header',
              required: false,
              description: '`*`: write only if the key has no value.',
              schema: { type: 'string', enum: ['*'] },
            },
            contextHeader,
          ],
          requestBody: {
            required: false,
            description: `The value, raw bytes of any content type, at most ${limits.maxValueBytes} bytes.`,
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
          responses: {
            '204': { description: 'Written.', headers: { ETag: etagOut, 'X-Arpeggio-Context': contextOut } },
            '412': ref('PreconditionFailed'),
            '413': errorResponse('VALUE_TOO_LARGE'),
            '414': ref('KeyTooLarge'),
            ...clusterErrors,
          },
        },
        delete: {
          operationId: 'deleteKey',
          summary: 'Delete a value (idempotent; If-Match makes it conditional)',
          parameters: [
            consistencyParam,
            {
              name: 'If-Match',
              in: 'header',
              required: false,
              description: '`*` or an ETag: delete only if present / only that value (through consensus).',
              schema: { type: 'string' },
            },
            contextHeader,
          ],
          responses: {
            '204': { description: 'Deleted (or was absent).', headers: { 'X-Arpeggio-Context': contextOut } },
            '412': ref('PreconditionFailed'),
            '414': ref('KeyTooLarge'),
            ...clusterErrors,
          },
        },
      },
      '/v1/kv': {
        get: {
          operationId: 'listKeys',
          summary: 'List the keys of the whole cluster (or, with scope=local, of this node’s store)',
          description:
            'Pages through the live keys of the cluster in ring order (not key order), like Redis’s ' +
            'SCAN: any node serves any page, each range is read on R of its replicas (one at level ' +
            '`one`) and their versions reconciled, so a replica that missed a write does not hide it. ' +
            'A full listing returns every key that existed throughout it at least once (a key may ' +
            'appear twice if the ring changed meanwhile). A page holds at most `limit` keys; one call ' +
            'reads at most 10,000 records, so a sparse prefix gives short or empty pages with a cursor ' +
            'to go on. `scope=local` lists only the keys this node’s store holds.',
          parameters: [
            consistencyParam,
            { name: 'prefix', in: 'query', required: false, schema: { type: 'string' } },
            {
              name: 'cursor',
              in: 'query',
              required: false,
              description: 'The cursor of the previous page (opaque; it names a ring position).',
              schema: { type: 'string' },
            },
            {
              name: 'scope',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['cluster', 'local'], default: 'cluster' },
            },
            {
              name: 'limit',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 1, maximum: limits.maxListLimit, default: 100 },
            },
          ],
          responses: {
            '200': {
              description: 'A page of keys; `cursor` null when done. A page may be short, even empty.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/KeyPage' } } },
            },
            '501': errorResponse('NOT_SUPPORTED'),
            ...clusterErrors,
          },
        },
      },
      '/v1/cluster': {
        get: {
          operationId: 'cluster',
          summary: 'This node’s view of the members and the ring',
          responses: {
            '200': {
              description: 'Members, ring and handoff state.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Cluster' } } },
            },
            '401': ref('Unauthorized'),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Liveness: the process answers (no token needed)',
          security: [{}],
          responses: {
            '200': { description: 'Alive.', content: { 'application/json': { schema: { type: 'object' } } } },
          },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Readiness: the node has joined the ring and serves requests',
          responses: {
            '200': { description: 'Ready.', content: { 'application/json': { schema: { type: 'object' } } } },
            '401': ref('Unauthorized'),
            '503': ref('Unavailable'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition format)',
          responses: {
            '200': { description: 'The metrics.', content: { 'text/plain': { schema: { type: 'string' } } } },
            '401': ref('Unauthorized'),
            '501': errorResponse('NOT_SUPPORTED'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          responses: {
            '200': {
              description: 'OpenAPI 3.1.',
              content: { 'application/json': { schema: { type: 'object' } } },
            },
            '401': ref('Unauthorized'),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Required on every route but /healthz when the node runs with --http-token.',
        },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'definite', 'message'],
              properties: {
                code: { type: 'string', enum: codes },
                definite: {
                  type: 'boolean',
                  description: 'true: the operation did not happen; false: it may have happened.',
                },
                message: { type: 'string' },
              },
            },
          },
        },
        KeyPage: {
          type: 'object',
          required: ['scope', 'node', 'keys', 'cursor'],
          properties: {
            scope: { type: 'string', enum: ['cluster', 'local'] },
            node: { type: 'string' },
            keys: { type: 'array', items: { type: 'string' } },
            cursor: { type: ['string', 'null'] },
          },
        },
        Cluster: {
          type: 'object',
          required: ['node', 'state', 'ready', 'members', 'ring'],
          properties: {
            node: { type: 'string' },
            state: { type: 'string' },
            ready: { type: 'boolean' },
            epoch: { type: 'integer' },
            endpoints: { type: 'object', additionalProperties: { type: 'string' } },
            members: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  state: { type: 'string', enum: ['alive', 'suspect', 'dead', 'left'] },
                  incarnation: { type: 'integer' },
                  endpoints: { type: 'object', additionalProperties: { type: 'string' } },
                  onRing: { type: 'boolean' },
                  rangesOwned: { type: 'integer' },
                  connected: { type: ['boolean', 'null'] },
                },
              },
            },
            ring: {
              type: 'object',
              properties: {
                members: { type: 'array', items: { type: 'string' } },
                vnodesPerNode: { type: 'integer' },
                pendingJoins: { type: 'array', items: { type: 'string' } },
                pendingLeaves: { type: 'array', items: { type: 'string' } },
                handoff: { type: ['object', 'null'] },
              },
            },
            hintsPending: { type: 'integer' },
          },
        },
      },
      responses: {
        BadRequest: errorResponse('BAD_REQUEST: a malformed parameter or header.'),
        Unauthorized: errorResponse('UNAUTHORIZED: a bearer token is required.'),
        KeyTooLarge: errorResponse('KEY_TOO_LARGE'),
        PreconditionFailed: errorResponse('PRECONDITION_FAILED: nothing was written.'),
        Unavailable: errorResponse(
          'QUORUM_UNAVAILABLE, NOT_READY, OVERLOADED, CONTENTION: definite, nothing happened; retry after Retry-After.',
        ),
        Indefinite: errorResponse('TIMEOUT (or any indefinite error): the operation may have happened.'),
      },
    },
  };
}
