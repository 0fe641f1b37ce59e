/**
 * Chord routing (Stoica et al., SIGCOMM 2001): the protocol node, its messages, its knobs.
 * The pieces live in `chord/`; docs/CHORD.md describes the protocol as implemented.
 */
export { type ChordConfig, chordConfig, defaultChordConfig, successorListLengthFor } from './chord/config.js';
export { LocationCache } from './chord/location-cache.js';
export type {
  Address,
  ChordMessage,
  ChordMessageType,
  ChordReply,
  ChordRequest,
  LookupError,
  LookupRoute,
  Query,
} from './chord/messages.js';
export {
  type ChordComponents,
  type ChordInit,
  ChordNode,
  fingerStart,
  type VNodeView,
} from './chord/node.js';
