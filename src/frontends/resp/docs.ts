/**
 * COMMAND DOCS: what each supported command is for and its arguments, in Redis 7's reply shape,
 * so redis-cli (7.2 and later builds its hints from this reply) shows the argument hints as it
 * does against Redis.
 *
 * Arguments are written in the syntax of Redis's own documentation and parsed into Redis's
 * argument tree: `name:type` an argument, `WORD` a pure token, `WORD name:type` a token followed by
 * its value, `[ … ]` optional, `( … )` a group, `a | b` one of, `…` after an item: it repeats.
 */
import { array, bulk, integer, map, type RespValue, simple } from './encoder.js';

interface Doc {
  summary: string;
  since: string;
  group: 'string' | 'generic' | 'connection' | 'server' | 'keyspace';
  syntax: string;
}

const DOCS: Record<string, Doc> = {
  get: { summary: 'Returns the string value of a key.', since: '1.0.0', group: 'string', syntax: 'key:key' },
  set: {
    summary: 'Sets the string value of a key, ignoring its type. The key is created if it does not exist.',
    since: '1.0.0',
    group: 'string',
    syntax:
      'key:key value:string [NX | XX] [GET] [EX seconds:integer | PX milliseconds:integer | ' +
      'EXAT unix-time-seconds:unix-time | PXAT unix-time-milliseconds:unix-time | KEEPTTL]',
  },
  getset: {
    summary: 'Returns the previous string value of a key after setting it to a new value.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key value:string',
  },
  getdel: {
    summary: 'Returns the string value of a key after deleting the key.',
    since: '6.2.0',
    group: 'string',
    syntax: 'key:key',
  },
  getex: {
    summary: 'Returns the string value of a key after setting its expiration time.',
    since: '6.2.0',
    group: 'string',
    syntax:
      'key:key [EX seconds:integer | PX milliseconds:integer | EXAT unix-time-seconds:unix-time | ' +
      'PXAT unix-time-milliseconds:unix-time | PERSIST]',
  },
  setnx: {
    summary: 'Set the string value of a key only when the key does not exist.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key value:string',
  },
  setex: {
    summary: 'Sets the string value and expiration time of a key.',
    since: '2.0.0',
    group: 'string',
    syntax: 'key:key seconds:integer value:string',
  },
  psetex: {
    summary: 'Sets both string value and expiration time in milliseconds of a key.',
    since: '2.6.0',
    group: 'string',
    syntax: 'key:key milliseconds:integer value:string',
  },
  append: {
    summary: 'Appends a string to the value of a key. Creates the key if it does not exist.',
    since: '2.0.0',
    group: 'string',
    syntax: 'key:key value:string',
  },
  strlen: {
    summary: 'Returns the length of a string value.',
    since: '2.2.0',
    group: 'string',
    syntax: 'key:key',
  },
  getrange: {
    summary: 'Returns a substring of the string stored at a key.',
    since: '2.4.0',
    group: 'string',
    syntax: 'key:key start:integer end:integer',
  },
  substr: {
    summary: 'Returns a substring from a string value.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key start:integer end:integer',
  },
  setrange: {
    summary: 'Overwrites a part of a string value with another by an offset.',
    since: '2.2.0',
    group: 'string',
    syntax: 'key:key offset:integer value:string',
  },
  incr: {
    summary: 'Increments the integer value of a key by one.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key',
  },
  decr: {
    summary: 'Decrements the integer value of a key by one.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key',
  },
  incrby: {
    summary: 'Increments the integer value of a key by a number.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key increment:integer',
  },
  decrby: {
    summary: 'Decrements a number from the integer value of a key.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key decrement:integer',
  },
  incrbyfloat: {
    summary: 'Increment the floating point value of a key by a number.',
    since: '2.6.0',
    group: 'string',
    syntax: 'key:key increment:double',
  },
  mget: {
    summary: 'Atomically returns the string values of one or more keys.',
    since: '1.0.0',
    group: 'string',
    syntax: 'key:key...',
  },
  mset: {
    summary: 'Atomically creates or modifies the string values of one or more keys.',
    since: '1.0.1',
    group: 'string',
    syntax: '(key:key value:string)...',
  },
  msetnx: {
    summary: 'Modifies the string values of one or more keys only when all keys do not exist.',
    since: '1.0.1',
    group: 'string',
    syntax: '(key:key value:string)...',
  },
  del: { summary: 'Deletes one or more keys.', since: '1.0.0', group: 'generic', syntax: 'key:key...' },
  unlink: {
    summary: 'Asynchronously deletes one or more keys.',
    since: '4.0.0',
    group: 'generic',
    syntax: 'key:key...',
  },
  exists: {
    summary: 'Determines whether one or more keys exist.',
    since: '1.0.0',
    group: 'generic',
    syntax: 'key:key...',
  },
  expire: {
    summary: "Sets a key's time-to-live in seconds.",
    since: '1.0.0',
    group: 'generic',
    syntax: 'key:key seconds:integer [NX | XX | GT | LT]',
  },
  pexpire: {
    summary: "Sets a key's time-to-live in milliseconds.",
    since: '2.6.0',
    group: 'generic',
    syntax: 'key:key milliseconds:integer [NX | XX | GT | LT]',
  },
  expireat: {
    summary: 'Sets the expiration time of a key to a Unix timestamp.',
    since: '1.2.0',
    group: 'generic',
    syntax: 'key:key unix-time-seconds:unix-time [NX | XX | GT | LT]',
  },
  pexpireat: {
    summary: 'Sets the expiration time of a key to a Unix milliseconds timestamp.',
    since: '2.6.0',
    group: 'generic',
    syntax: 'key:key unix-time-milliseconds:unix-time [NX | XX | GT | LT]',
  },
  ttl: {
    summary: 'Returns the expiration time in seconds of a key.',
    since: '1.0.0',
    group: 'generic',
    syntax: 'key:key',
  },
  pttl: {
    summary: 'Returns the expiration time in milliseconds of a key.',
    since: '2.6.0',
    group: 'generic',
    syntax: 'key:key',
  },
  persist: {
    summary: 'Removes the expiration time of a key.',
    since: '2.2.0',
    group: 'generic',
    syntax: 'key:key',
  },
  type: {
    summary: 'Determines the type of value stored at a key.',
    since: '1.0.0',
    group: 'generic',
    syntax: 'key:key',
  },
  scan: {
    summary: 'Iterates over the key names in the database.',
    since: '2.8.0',
    group: 'generic',
    syntax: 'cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [TYPE type:string]',
  },
  keys: {
    summary: 'Returns all key names that match a pattern.',
    since: '1.0.0',
    group: 'generic',
    syntax: 'pattern:pattern',
  },
  dbsize: {
    summary: 'Returns the number of keys in the database.',
    since: '1.0.0',
    group: 'server',
    syntax: '',
  },
  ping: {
    summary: "Returns the server's liveliness response.",
    since: '1.0.0',
    group: 'connection',
    syntax: '[message:string]',
  },
  echo: {
    summary: 'Returns the given string.',
    since: '1.0.0',
    group: 'connection',
    syntax: 'message:string',
  },
  quit: { summary: 'Closes the connection.', since: '1.0.0', group: 'connection', syntax: '' },
  select: {
    summary: 'Changes the selected database.',
    since: '1.0.0',
    group: 'connection',
    syntax: 'index:integer',
  },
  hello: {
    summary: 'Handshakes with the server.',
    since: '6.0.0',
    group: 'connection',
    syntax: '[protover:integer [AUTH username:string password:string] [SETNAME clientname:string]]',
  },
  auth: {
    summary: 'Authenticates the connection.',
    since: '1.0.0',
    group: 'connection',
    syntax: '[username:string] password:string',
  },
  info: {
    summary: 'Returns information and statistics about the server.',
    since: '1.0.0',
    group: 'server',
    syntax: '[section:string...]',
  },
  consistency: {
    summary: "Shows or sets the connection's consistency level (Arpeggio).",
    since: '0.1.0',
    group: 'connection',
    syntax: '[ONE | QUORUM | ALL | LINEARIZABLE | SESSION]',
  },
  'arpeggio.status': {
    summary: "Returns the node's status as JSON (Arpeggio).",
    since: '0.1.0',
    group: 'server',
    syntax: '',
  },
  'config|get': {
    summary: 'Returns the effective values of configuration parameters.',
    since: '2.0.0',
    group: 'server',
    syntax: 'parameter:string...',
  },
  'config|set': {
    summary: 'Sets configuration parameters in-flight.',
    since: '2.0.0',
    group: 'server',
    syntax: '[parameter:string value:string]...',
  },
  'config|resetstat': {
    summary: "Resets the server's statistics.",
    since: '2.0.0',
    group: 'server',
    syntax: '',
  },
  'client|id': {
    summary: 'Returns the unique client ID of the connection.',
    since: '5.0.0',
    group: 'connection',
    syntax: '',
  },
  'client|getname': {
    summary: 'Returns the name of the connection.',
    since: '2.6.9',
    group: 'connection',
    syntax: '',
  },
  'client|setname': {
    summary: 'Sets the connection name.',
    since: '2.6.9',
    group: 'connection',
    syntax: 'connection-name:string',
  },
  'client|setinfo': {
    summary: 'Sets information specific to the client or connection.',
    since: '7.2.0',
    group: 'connection',
    syntax: 'LIB-NAME libname:string | LIB-VER libver:string',
  },
  'client|info': {
    summary: 'Returns information about the connection.',
    since: '6.2.0',
    group: 'connection',
    syntax: '',
  },
  'command|count': { summary: 'Returns a count of commands.', since: '2.8.13', group: 'server', syntax: '' },
  'command|docs': {
    summary: 'Returns documentary information about one, multiple or all commands.',
    since: '7.0.0',
    group: 'server',
    syntax: '[command-name:string...]',
  },
  'command|info': {
    summary: 'Returns information about one, multiple or all commands.',
    since: '2.8.13',
    group: 'server',
    syntax: '[command-name:string...]',
  },
  'command|list': {
    summary: 'Returns a list of command names.',
    since: '7.0.0',
    group: 'server',
    syntax: '',
  },
};

/** One node of Redis's argument tree. */
export interface ArgDoc {
  name: string;
  type: string;
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  arguments?: ArgDoc[];
}

/** Parses the argument syntax (see the file comment) into Redis's argument tree. */
export function parseSyntax(syntax: string): ArgDoc[] {
  const tokens = syntax
    .replace(/([[\]()|])/g, ' $1 ')
    .split(/\s+/)
    .filter(Boolean);
  let at = 0;
  const sequence = (stop: Set<string>): ArgDoc[] => {
    const items: ArgDoc[] = [];
    while (at < tokens.length && !stop.has(tokens[at])) {
      let item: ArgDoc;
      if (tokens[at] === '[' || tokens[at] === '(') {
        const optional = tokens[at++] === '[';
        item = optional ? { ...alternatives(), optional } : alternatives();
        at++; // ] or )
      } else item = word(tokens[at++]);
      if (tokens[at - 1].endsWith('...') || tokens[at] === '...') {
        if (tokens[at] === '...') at++;
        item.multiple = true;
      }
      items.push(item);
    }
    // A pure token followed by its value is one argument with a token (EX seconds).
    const merged: ArgDoc[] = [];
    for (const item of items) {
      const last = merged.at(-1);
      if (
        last &&
        last.type === 'pure-token' &&
        !last.optional &&
        item.type !== 'pure-token' &&
        !item.token &&
        !item.arguments
      ) {
        merged[merged.length - 1] = { ...item, token: last.token };
      } else merged.push(item);
    }
    return merged;
  };
  const alternatives = (): ArgDoc => {
    const options: ArgDoc[][] = [sequence(new Set([']', ')', '|']))];
    while (tokens[at] === '|') {
      at++;
      options.push(sequence(new Set([']', ')', '|'])));
    }
    const asOne = (seq: ArgDoc[]): ArgDoc =>
      seq.length === 1 ? seq[0] : { name: seq.map((a) => a.name).join('-'), type: 'block', arguments: seq };
    if (options.length === 1) return asOne(options[0]);
    const choices = options.map(asOne);
    return { name: choices.map((c) => c.name).join('-'), type: 'oneof', arguments: choices };
  };
  const word = (text: string): ArgDoc => {
    const clean = text.replace(/\.\.\.$/, '');
    const colon = clean.indexOf(':');
    if (colon === -1) return { name: clean.toLowerCase(), type: 'pure-token', token: clean };
    return { name: clean.slice(0, colon), type: clean.slice(colon + 1) };
  };
  const items = sequence(new Set(['|']));
  if (at >= tokens.length) return items;
  at = 0; // alternatives at the top level: one oneof argument
  return [alternatives()];
}

function argReply(arg: ArgDoc): RespValue {
  const flags = [...(arg.optional ? ['optional'] : []), ...(arg.multiple ? ['multiple'] : [])];
  const entries: [RespValue, RespValue][] = [
    [bulk('name'), bulk(arg.name)],
    [bulk('type'), bulk(arg.type)],
  ];
  if (arg.type === 'key') entries.push([bulk('key_spec_index'), integer(0)]);
  if (arg.token) entries.push([bulk('token'), bulk(arg.token)]);
  if (flags.length > 0) entries.push([bulk('flags'), array(flags.map(simple))]);
  if (arg.arguments) entries.push([bulk('arguments'), array(arg.arguments.map(argReply))]);
  return map(entries);
}

/** One command's docs reply (a map), with its subcommands' docs nested, as Redis 7 gives it. */
export function commandDoc(name: string, subcommands: string[] = []): RespValue | null {
  const doc = DOCS[name];
  if (doc === undefined && subcommands.length === 0) return null;
  const entries: [RespValue, RespValue][] = [];
  if (doc) {
    entries.push(
      [bulk('summary'), bulk(doc.summary)],
      [bulk('since'), bulk(doc.since)],
      [bulk('group'), bulk(doc.group)],
    );
    const args = parseSyntax(doc.syntax);
    if (args.length > 0) entries.push([bulk('arguments'), array(args.map(argReply))]);
  } else entries.push([bulk('summary'), bulk(`A container for ${name.toUpperCase()} subcommands.`)]);
  if (subcommands.length > 0) {
    const subs: [RespValue, RespValue][] = [];
    for (const sub of subcommands) {
      const reply = commandDoc(sub);
      if (reply) subs.push([bulk(sub), reply]);
    }
    entries.push([bulk('subcommands'), map(subs)]);
  }
  return map(entries);
}
