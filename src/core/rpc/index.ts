/** The RPC layer: see docs/RPC.md. */
export { fullJitterBackoffMs } from './backoff.js';
export {
  type Admission,
  type BreakerSnapshot,
  type BreakerState,
  type BreakerTransition,
  CircuitBreaker,
  type CircuitBreakerInit,
} from './circuit-breaker.js';
export {
  assertRpcConfig,
  backoffCeilingMs,
  type CallSchedule,
  callSpanMs,
  defaultRpcConfig,
  type RpcConfig,
  retrySendSpanMs,
  rpcConfigPresets,
} from './config.js';
export { DedupCache, type DedupCacheInit, type DedupCacheStats } from './dedup-cache.js';
export {
  type CallOptions,
  type CallStarted,
  type IncomingRequest,
  RpcEndpoint,
  type RpcEndpointComponents,
  type RpcEndpointInit,
  type RpcEvent,
  type RpcHandler,
  type RpcReady,
  type RpcStats,
} from './endpoint.js';
export {
  type CallId,
  DEFER,
  type Deferred,
  isRpcMessage,
  type RpcCompletion,
  type RpcError,
  type RpcErrorCode,
  type RpcErrorMessage,
  type RpcMessage,
  RpcRefusal,
  type RpcRequestMessage,
  type RpcResponseMessage,
  refuse,
} from './messages.js';
